"""Fixtures of the panel and API tests: the app on a module's ``services``, and its client."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broadcast.services import Services
from web import create_app


@pytest.fixture
def app(services: Services) -> Flask:
    return create_app(services, testing=True)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
