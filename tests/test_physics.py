"""The physics line: |acc| at rest and the mean sampling step, as a wrong unit or rate would show them."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from imudata import physics, registry
from imudata.cards import render_all
from imudata.datasets import uschad
from imudata.registry import Session

G = 9.80665


def _session(acc_g: np.ndarray, t: np.ndarray | None = None) -> Session:
    n = len(acc_g)
    cols = {f"hip_acc_{a}": acc_g[:, i] for i, a in enumerate("xyz")}
    cols.update({f"hip_gyro_{a}": np.zeros(n) for a in "xyz"})
    return Session("imu", "1", "a8t1", cols, np.full(n, 8, dtype=np.int16), t)


def _still(n: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([0.98, 0.15, -0.1]) + 0.002 * rng.standard_normal((n, 3))  # in g, |acc| ≈ 0.996 g


def _lines(card, sessions) -> list[str]:
    acc = physics.Accumulator(card)
    for s in sessions:
        acc.add(s)
    return physics.merge(card, [acc.to_dict()])


def test_gravity_in_g_scaled_to_si_is_recognised() -> None:
    lines = _lines(uschad.CARD, [_session(_still())])
    assert lines[0] == ("imu: mean sampling step 10.000 ms over 999 steps, stated 100 Hz = 10.000 ms (ratio 1.000; "
                        "no source timestamps, t = row / rate)")
    want = float(np.linalg.norm([0.98, 0.15, -0.1]) * G)
    m = float(lines[1].split("|acc| at rest ")[1].split(" m/s²")[0])
    assert abs(m - want) < 0.01 and "as expected for gravity" in lines[1] and "over 10 still 1-s windows" in lines[1]


def test_a_wrong_unit_and_a_wrong_rate_show() -> None:
    stream = uschad.CARD.streams[0]
    unscaled = [replace(c, scale=1.0) if c.sensor == "acc" else c for c in stream.channels]  # g taken for m/s²
    card = replace(uschad.CARD, streams=[replace(stream, channels=unscaled)])
    t = np.arange(1000) * 0.02  # the file's own clock says 50 Hz
    lines = _lines(card, [_session(_still(), t)])
    assert "mean sampling step 20.000 ms" in lines[0] and "ratio 2.000" in lines[0]
    assert "NOT 9.81 m/s²: check the unit" in lines[1]


def test_moving_data_has_no_rest_window() -> None:
    n = 1000
    tt = np.arange(n) / 100
    moving = np.column_stack([1 + 0.5 * np.sin(2 * np.pi * 2 * tt), 0.3 * np.cos(2 * np.pi * 3 * tt), np.zeros(n)])
    lines = _lines(uschad.CARD, [_session(moving)])
    assert "|acc| at rest not measured: no still 1-s window" in lines[1]


def test_every_card_in_the_docs_has_its_physics_line() -> None:
    text = render_all()
    for spec in registry.specs():
        section = text.split(f"## {spec.id}: ", 1)[1].split("\n## ", 1)[0]
        assert "- physics line: computed at conversion on the real data" in section, spec.id
        assert "- known originals: " in section, spec.id
