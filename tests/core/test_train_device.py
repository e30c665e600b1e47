"""Training runs where the app's device setting says, as embedding does: one device choice
(core.models.device) for every stage, with a run's own device above the setting."""

from __future__ import annotations

import pytest
import torch

from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.loop import fit
from tests.core.train_fixtures import feature_data


def _fit(**config: object):  # type: ignore[no-untyped-def]
    data = feature_data(n_train=128, n_eval=32)
    options = {"confounder": "place", "backbone": "head", "epochs": 1, "batch_size": 64}
    return run_quiet(fit(data, TrainConfig(project="", **{**options, **config})))  # type: ignore[arg-type]


def _device_of(outcome) -> str:  # type: ignore[no-untyped-def]
    return next(outcome.model.parameters()).device.type


def test_training_honours_the_device_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The setting says cuda on a machine without one: training refuses as embedding does,
    rather than quietly choosing for itself (what its own device function used to do)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("DEBIAS_STUDIO_DEVICE", "cuda")
    with pytest.raises(StudioError, match="CUDA GPU was asked for"):
        _fit()


def test_a_cpu_setting_keeps_training_off_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBIAS_STUDIO_DEVICE", "cpu")  # on a GPU machine: keeps it free
    assert _device_of(_fit()) == "cpu"


def test_the_runs_own_device_wins_over_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("DEBIAS_STUDIO_DEVICE", "cuda")
    assert _device_of(_fit(device="cpu")) == "cpu"
