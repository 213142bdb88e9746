"""The generalist's training protocol (``training.detector.rcnn``): folds that never leak a publisher into
training, and the one fit recipe that ``train_rcnn`` and the probes share. Every published number of
issue 22 rests on these two."""

from __future__ import annotations

import numpy as np
import pytest

from kinoseal.training.detector import rcnn


def _clips() -> list[dict]:
    """6 AI repositories of 1-3 clips (one family each) and 20 real clips of 10 sources; two real clips
    were published by AI repositories (their projects' reference videos), as in the shared data."""
    clips = []
    for r in range(6):
        clips += [{"label": 1, "family": f"fam{r}", "repo": f"org/gen{r}", "group": f"org/gen{r}"}] * (r % 3 + 1)
    for g in range(10):
        clips += [{"label": 0, "family": None, "repo": f"real/src{g}", "group": f"src{g}"}] * 2
    clips[-1] = {**clips[-1], "repo": "org/gen0"}
    clips[-3] = {**clips[-3], "repo": "org/gen4"}
    return clips


def test_repository_folds_keep_each_publisher_out_of_its_fold_training():
    clips = _clips()
    fold, fold_of = rcnn.repo_folds(clips, k=3)
    repo = np.array([c["repo"] for c in clips])
    y = np.array([c["label"] for c in clips])
    for r, f in fold_of.items():  # a repository's AI clips all sit in its fold
        assert set(fold[(repo == r) & (y == 1)]) == {f}
    ai_per_fold = np.bincount(fold[y == 1], minlength=3)
    assert ai_per_fold.max() - ai_per_fold.min() <= 3  # balanced up to one repository
    for i in range(3):
        tr, te = rcnn.fold_split(i, fold, fold_of, clips)
        assert set(te) == set(np.flatnonzero(fold == i)) and not set(tr) & set(te)
        held = {r for r, f in fold_of.items() if f == i}
        assert not held & set(repo[tr])  # nor a real clip those repositories published
        assert {clips[j]["group"] for j in te if y[j] == 0}.isdisjoint({clips[j]["group"] for j in tr if y[j] == 0})
    # the reference clip org/gen0 published stays out of the training of gen0's fold, whichever fold holds it
    tr0, _ = rcnn.fold_split(fold_of["org/gen0"], fold, fold_of, clips)
    assert len(clips) - 1 not in tr0
    with pytest.raises(ValueError, match="spans repositories"):
        rcnn.repo_folds(clips + [{"label": 1, "family": "fam0", "repo": "org/other", "group": "org/other"}])


@pytest.fixture(scope="module")
def data():
    """Tubes [W=2, C=4, L=3, 20, 20, 3] per clip: AI clips carry a faint checkerboard on their green
    channel, which both views can learn; window features are its energy plus noise."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(12, int), np.ones(12, int)]
    fam = np.array([""] * 12 + [f"f{i % 3}" for i in range(12)])
    groups = np.array([f"r{i % 4}" for i in range(12)] + [f"f{i % 3}" for i in range(12)])
    check = (np.indices((20, 20)).sum(axis=0) % 2) * 12
    tubes = []
    for label in y:
        t = rng.integers(60, 190, (2, 4, 3, 20, 20, 3)).astype(np.int16)
        t[..., 1] += check * label
        tubes.append(np.clip(t, 0, 255).astype(np.uint8))
    X = (y[:, None, None] + rng.normal(0, 0.7, (24, 2, 5))).astype(np.float32)
    return X, rcnn.inputs_of(tubes), y, fam, groups


def test_fit_fold_scales_each_view_on_its_training_clips(data):
    import torch

    from kinoseal.detect.rcnn import Blend

    torch.set_num_threads(1)
    X, inputs, y, fam, groups = data
    rows = np.arange(0, 24, 2)  # half the clips of both classes
    scale = rows[:8]
    fit = rcnn.fit_fold(X, inputs, rows, y, fam, groups, C=1.0, steps=6, seed=3, crops=(1, 3))
    assert fit.net is not None and sorted(fit.cnn_stats) == [1, 3]
    for z in (fit.z_head(X[rows]), *fit.z_cnn(inputs, rows).values()):  # z-scores on the rows that set the scale
        assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0, rel=1e-6)
    held = np.setdiff1d(np.arange(24), rows)
    want = rcnn.clip_logits(fit.net, inputs, held, 3)
    assert np.allclose(fit.z_cnn(inputs, held)[3], (want - fit.cnn_stats[3][0]) / fit.cnn_stats[3][1])
    # one pass over 3 crops gives the 1-crop score of a fit that only ever ran 1 crop (same seed, same net)
    one = rcnn.fit_fold(X, inputs, rows, y, fam, groups, C=1.0, steps=6, seed=3, crops=(1,))
    assert np.array_equal(fit.z_head(X[held]), one.z_head(X[held]))
    assert np.allclose(fit.z_cnn(inputs, held)[1], one.z_cnn(inputs, held)[1], atol=1e-6)
    assert not np.allclose(fit.z_cnn(inputs, held)[1], fit.z_cnn(inputs, held)[3])
    # derived training rows (a probe's resized copies, pairs) can keep the scale of other rows
    kept = rcnn.fit_fold(X, inputs, rows, y, fam, groups, C=1.0, steps=0, seed=3, scale_rows=scale)
    assert kept.net is None and kept.cnn_stats == {}
    assert kept.head_stats == Blend.stats(kept.head.decision_function(X[scale])) != fit.head_stats
    assert np.array_equal(kept.head.decision_function(X), fit.head.decision_function(X))


def test_one_repository_out_splits_and_combines_every_clip_once():
    """``bench.detector_loro``: the j-th repository's fit never sees a clip that repository published (its
    families, a baseline family it re-ran, its real reference clip) nor the real fold it scores; every AI
    clip gets one score and every real clip the score of one of the fits that held its source out, in turn."""
    from bench.detector_loro import combine, split

    from kinoseal.training.detector.train_xgen import real_folds

    clips = _clips() + [{"label": 1, "family": "baseline", "repo": "org/gen2", "group": "org/gen2"}]
    y = np.array([c["label"] for c in clips])
    repo = np.array([c["repo"] for c in clips])
    folds = real_folds(clips, 5)
    repos = sorted(set(repo[y == 1]))
    fits = []
    for j, r in enumerate(repos):
        tr, ai, real = split(j, r, y, repo, folds)
        assert set(ai) == set(np.flatnonzero((repo == r) & (y == 1))) and not set(tr) & (set(ai) | set(real))
        assert r not in set(repo[tr]) and not (folds[tr] == j % 5).any()
        rows = np.r_[ai, real]
        fits.append({"rows": rows, "z_head": np.full(len(rows), float(j)), "z_cnn": np.zeros(len(rows)),
                     "p_features": np.full(len(rows), 0.5)})
    _, ai2, _ = split(repos.index("org/gen2"), "org/gen2", y, repo, folds)
    assert len(clips) - 1 in ai2  # the baseline family is held out, and scored, with the repository that ran it
    s = combine(fits, len(clips), y)
    for i in np.flatnonzero(y == 0):  # one of the fits that held its source out, taking turns
        mine = [j for j in range(len(repos)) if j % 5 == folds[i]]
        assert s["_z"]["z_head"][i] == mine[i % len(mine)]
    assert len({s["_z"]["z_head"][i] for i in np.flatnonzero((y == 0) & (folds == 0))}) > 1
    assert s["_z"]["z_head"][-1] == repos.index("org/gen2")
    with pytest.raises(RuntimeError, match="exactly one"):
        combine(fits + fits[:1], len(clips), y)


def test_origin_split_compares_each_clip_with_its_own_rounds_real_scores():
    """``train_xgen.split_auc``: an AI clip is ranked against the real clips as its own family round scored
    them, and held to that round's threshold; averaging the real scores over rounds would shrink them and
    rank both clips above every real clip here."""
    from kinoseal.training.detector.train_xgen import split_auc

    clips = [{"label": 1, "family": f, "fmt": "gif"} for f in ("f1", "f2")] + [{"label": 0, "family": None, "fmt": "gif"}] * 2
    proto = {"rows": [{"family": "f1", "threshold": 0.5}, {"family": "f2", "threshold": 0.9}],
             "p_ai": np.array([0.6, 0.6, np.nan, np.nan]),
             "real_scores": {"f1": np.array([0.1, 0.7]), "f2": np.array([0.65, 0.2])}}
    r = split_auc(proto, clips, "gif")
    assert (r["ai_clips"], r["real_clips"], r["auc"], r["tpr_at_threshold"]) == (2, 2, 0.5, 0.5)
    assert split_auc(proto, clips, "mp4")["ai_clips"] == 0
