"""Template fixtures: the source template, and its SAM transform (computed once)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.component.template.cfn import load_template, transform


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    return transform(template)
