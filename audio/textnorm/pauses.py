"""Break long stretches without punctuation where an announcer would take a breath."""

import re

# A stretch longer than this many characters gets a pause.
MAX_RUN = 30
MIN_SIDE = 8
# Words a new phrase often starts with; the pause goes before them.
_BREAK_BEFORE = re.compile(
    r"(?=并且|并|同时|以及|或者|但是|如果|因为|所以|为了|以便|以免|不要|严禁|禁止|请|确保|按照|根据|"
    r"通过|由于|对于|关于|其中|届时|务必|及时|主动|立即|要求|将|在|对|向|从|把|和)"
)
_RUN = re.compile(r"[^，。！？；：、,.!?;:\s\n“”\"《》（）()]+")


def break_long_runs(text: str) -> str:
    return _RUN.sub(lambda m: _split(m.group()), text)


def _split(run: str) -> str:
    if len(run) <= MAX_RUN:
        return run
    middle = len(run) // 2
    candidates = [
        m.start()
        for m in _BREAK_BEFORE.finditer(run)
        if MIN_SIDE <= m.start() <= len(run) - MIN_SIDE
    ]
    if not candidates:
        return run
    cut = min(candidates, key=lambda i: abs(i - middle))
    return _split(run[:cut]) + "，" + _split(run[cut:])
