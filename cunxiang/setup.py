"""First-time set-up of an install, and the sample township of ``cunxiang demo``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from broadcast.accounts import generate_password
from broadcast.services import Services
from cunxiang.provision import write_provisioning

DEMO_VILLAGES = (
    ("330782101201", "上溪村", ("shangxi-01", "shangxi-02")),
    ("330782101202", "下林村", ("xialin-01", "xialin-02")),
    ("330782101203", "东塘村", ("dongtang-01", "dongtang-02")),
)
DEMO_ADMIN = "admin"


@dataclass(frozen=True)
class InitResult:
    password: str | None  # the new admin's password, or None when accounts existed


def init_install(services: Services, admin: str, password: str | None) -> InitResult:
    """Create (if there is no account yet) the first admin."""
    if services.count_users() > 0:
        return InitResult(None)
    password = password or generate_password()
    services.add_user(admin, password, "admin")
    return InitResult(password)


def seed_demo(services: Services) -> tuple[str, str]:
    """Create the sample township once; return the demo login (kept 0600 in the data dir)."""
    settings = services.settings
    login_file = settings.data_dir / "demo-login.txt"
    if services.count_users() == 0:
        password = generate_password()
        services.add_user(DEMO_ADMIN, password, "admin")
        fd = os.open(login_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{DEMO_ADMIN} {password}\n")
    existing = {v.name for v in services.list_villages()}
    for code, name, speakers in DEMO_VILLAGES:
        if name in existing:
            continue
        services.add_village(name, code)
        for sid in speakers:
            prov = services.add_speaker(sid, code, f"{name}{sid[-2:]}号喇叭")
            write_provisioning(settings, prov)
    if not login_file.exists():
        return (DEMO_ADMIN, "(the password chosen at `cunxiang init`)")
    user, password = login_file.read_text().split()
    return (user, password)
