"""Generator-agnostic features: noise residual, spectrum, decoder periodicity, colour, time.

Per window (tubes ``[W, C, L, S, S, 3]`` uint8, see ``detect.features``), averaged over crops and
frames. Nothing here is learnt, so there is nothing in it that could have memorised one generator:
the head that weighs these features is what training fits.

* **Residual** (image minus a 3x3 binomial blur): energy, energy relative to edges, kurtosis, and
  how much noise the flattest 8x8 blocks carry compared with the median block. A camera's sensor
  noise is everywhere, even in flat sky; a diffusion decoder paints clean flats and busy textures.
* **Spectrum**: the share of luma power in 8 radial bands and the slope of the fall-off.
* **Decoder periodicity**: VAE decoders upsample by 2 three times; their traces repeat every 2, 4
  and 8 pixels. The residual's autocorrelation at those lags against the lags either side.
* **Colour**: chroma residual against luma residual (demosaicing and chroma subsampling leave
  their own), saturation level and spread, clipped pixels, histogram entropy.
* **Time**: frame-difference energy, how much of the residual survives from one frame to the next
  (sensor noise does not, a generator's texture does), duplicate frames, high-frequency share of
  the change, brightness flicker.
"""

from __future__ import annotations

import numpy as np

from kinoseal.detect.features import _bands, half_plane, highpass, luma, power_spectrum

RESID_FEATURES = (
    "r_energy", "r_grad_energy", "r_res_over_grad", "r_kurtosis",
    "r_band0", "r_band1", "r_band2", "r_band3", "r_band4", "r_band5", "r_band6", "r_band7", "r_slope",
    "r_period2", "r_period4", "r_period8", "r_flat_noise", "r_flat_abs",
    "r_chroma_res", "r_sat_mean", "r_sat_std", "r_clipped", "r_entropy",
    "r_diff_energy", "r_res_diff_ratio", "r_res_corr", "r_dup_frac", "r_diff_hf", "r_flicker", "r_crop_spread",
)

_EPS = 1e-3
_RADIAL: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _radial(n: int):
    if n not in _RADIAL:
        f = np.fft.fftfreq(n)
        r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2) / 0.5
        edges = np.geomspace(0.04, 1.42, 9)
        idx = np.clip(np.digitize(r, edges) - 1, -1, 7)
        masks = np.stack([(idx == b) for b in range(8)]).astype(np.float32)  # [8, n, n]
        centers = np.sqrt(edges[:-1] * edges[1:])
        _RADIAL[n] = (half_plane(masks), np.log(centers), masks.sum(axis=(1, 2)))
    return _RADIAL[n]


def _autocorr_peak(r: np.ndarray, lag: int) -> np.ndarray:
    """How much the residual correlates at ``lag`` pixels more than at lag-1 and lag+1 (x and y)."""
    def ac(k: int) -> np.ndarray:
        ax = (r[..., :, k:] * r[..., :, :-k]).mean(axis=(-1, -2))
        ay = (r[..., k:, :] * r[..., :-k, :]).mean(axis=(-1, -2))
        return ax + ay

    e0 = 2 * (r ** 2).mean(axis=(-1, -2)) + _EPS
    lo = ac(lag - 1) if lag > 1 else e0
    return (ac(lag) - 0.5 * (lo + ac(lag + 1))) / e0


def resid_features(tubes: np.ndarray) -> np.ndarray:
    """tubes [W, C, L, S, S, 3] uint8 -> [W, len(RESID_FEATURES)] float32."""
    W, C, L, S = tubes.shape[:4]
    x = tubes.astype(np.float32)
    y = luma(x)  # [W, C, L, S, S]
    cb = x[..., 2] - y
    cr = x[..., 0] - y
    del x
    r = highpass(y)
    r2 = r * r
    e_r = r2.mean(axis=(-1, -2))
    gy = np.diff(y, axis=-2)[..., :, :-1]
    gx = np.diff(y, axis=-1)[..., :-1, :]
    g2 = gy ** 2 + gx ** 2
    e_g = g2.mean(axis=(-1, -2))
    # squares, not r ** 4: numpy's power with exponent 4 is a per-element pow() call, 170x slower
    kurt = (r2 * r2).mean(axis=(-1, -2)) / (e_r ** 2 + _EPS)

    spec = power_spectrum(y, _bands(S)[0])
    masks, logc, cnt = _radial(S)
    bp = np.einsum("...ij,bij->...b", spec, masks) / cnt + _EPS  # mean power per band
    lbp = np.log(bp)
    band_share = np.log(bp / bp.sum(axis=-1, keepdims=True))
    lc = logc - logc.mean()
    slope = ((lbp[..., 2:] - lbp[..., 2:].mean(axis=-1, keepdims=True)) * lc[2:]).sum(-1) / ((lc[2:] - lc[2:].mean()) ** 2).sum()

    p2, p4, p8 = (_autocorr_peak(r, k) for k in (2, 4, 8))

    # noise in the flattest blocks against the median block
    B = 8
    Sr = (S - 2) // B * B
    rb = r2[..., :Sr, :Sr].reshape(W, C, L, Sr // B, B, Sr // B, B).mean(axis=(4, 6)).reshape(W, C, L, -1)
    gb = g2[..., :Sr, :Sr].reshape(W, C, L, Sr // B, B, Sr // B, B).mean(axis=(4, 6)).reshape(W, C, L, -1)
    order = np.argsort(gb, axis=-1)
    k = max(1, order.shape[-1] // 4)
    flat = np.take_along_axis(rb, order[..., :k], axis=-1).mean(-1)
    med = np.median(rb, axis=-1)
    flat_noise = np.log((flat + _EPS) / (med + _EPS))

    # colour
    e_c = (highpass(cb) ** 2).mean(axis=(-1, -2)) + (highpass(cr) ** 2).mean(axis=(-1, -2))
    # channel-wise, not .max(axis=-1): a reduction over a last axis of 3 is 100x slower in numpy
    ch = [tubes[..., i] for i in range(3)]
    mx = np.maximum(np.maximum(ch[0], ch[1]), ch[2]).astype(np.float32)
    sat = (mx - np.minimum(np.minimum(ch[0], ch[1]), ch[2])) / (mx + 1.0)
    clipped = ((y <= 2) | (y >= 253)).mean(axis=(-1, -2))
    n_img = W * C * L
    q = np.minimum(y.reshape(n_img, S * S).astype(np.int64) >> 2, 63) + 64 * np.arange(n_img)[:, None]
    hist = np.bincount(q.ravel(), minlength=64 * n_img).reshape(n_img, 64).astype(np.float32) / (S * S)
    ent = -(hist * np.log(hist + 1e-9)).sum(axis=1).reshape(W, C, L)

    def m(a):  # mean over crops and frames -> [W]
        return a.mean(axis=(1, 2))

    feats = [m(np.log(e_r + _EPS)), m(np.log(e_g + _EPS)), m(np.log((e_r + _EPS) / (e_g + _EPS))), m(np.log(kurt + 1.0))]
    feats += [band_share[..., b].mean(axis=(1, 2)) for b in range(8)]
    feats += [m(slope), m(p2), m(p4), m(p8), m(flat_noise), m(np.log(flat + _EPS))]
    feats += [m(np.log((e_c + _EPS) / (e_r + _EPS))), m(sat.mean(axis=(-1, -2))), m(sat.std(axis=(-1, -2))), m(clipped), m(ent)]
    if L >= 2:
        d = np.diff(y, axis=2)
        e_d = (d ** 2).mean(axis=(-1, -2))
        dr = np.diff(r, axis=2)
        ratio = (dr ** 2).mean(axis=(-1, -2)) / (e_r[:, :, 1:] + e_r[:, :, :-1] + _EPS)
        corr = (r[:, :, :-1] * r[:, :, 1:]).mean(axis=(-1, -2)) / np.sqrt(e_r[:, :, :-1] * e_r[:, :, 1:] + _EPS)
        dup = (np.abs(d).mean(axis=(-1, -2)) < 0.35).astype(np.float32)
        hf = (highpass(d) ** 2).mean(axis=(-1, -2)) / (e_d + _EPS)
        mu = y.mean(axis=(-1, -2))
        flick = np.abs(np.diff(mu, axis=2)) / (mu[:, :, 1:] + 8.0)
        feats += [m(np.log(e_d + _EPS)), m(np.log(ratio + _EPS)), m(corr), m(dup), m(np.log(hf + _EPS)),
                  m(np.log(flick + 1e-4))]
    else:
        feats += [np.zeros(W, np.float32)] * 6
    feats.append(np.log(e_r + _EPS).mean(axis=2).std(axis=1))
    return np.nan_to_num(np.stack(feats, axis=1).astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


#: what a high value of each feature means, in words (for the evidence lines)
CUE_WORDS = {
    "r_energy": "fine-grain detail", "r_grad_energy": "edge strength", "r_res_over_grad": "grain relative to edges",
    "r_kurtosis": "spiky, uneven grain", "r_slope": "how slowly detail falls off at fine scales",
    "r_period2": "a 2-pixel repeating pattern", "r_period4": "a 4-pixel repeating pattern (decoder upsampling)",
    "r_period8": "an 8-pixel repeating pattern (decoder upsampling)", "r_flat_noise": "grain in flat areas",
    "r_flat_abs": "noise in flat areas", "r_chroma_res": "colour noise", "r_sat_mean": "colour saturation",
    "r_sat_std": "varied saturation", "r_clipped": "clipped highlights or shadows", "r_entropy": "tonal range",
    "r_diff_energy": "motion between frames", "r_res_diff_ratio": "grain that changes from frame to frame",
    "r_res_corr": "grain that stays the same from frame to frame", "r_dup_frac": "repeated frames",
    "r_diff_hf": "fine detail in the motion", "r_flicker": "brightness flicker", "r_crop_spread": "uneven grain across the frame",
}
for _b in range(8):
    CUE_WORDS[f"r_band{_b}"] = f"share of {'coarse' if _b < 3 else 'mid' if _b < 6 else 'fine'}-scale detail (band {_b})"


def describe_cues(head, x: np.ndarray, towards_ai: bool, k: int = 2) -> list[str]:
    """The ``k`` features that moved this clip's score most in the direction of its verdict, in words
    ("more/less X than typical"). ``head``: a fitted ``WindowLogisticHead``; ``x``: mean window features."""
    z = (np.asarray(x, np.float64) - head.mean_) / head.scale_
    contrib = z * head.coef_
    order = np.argsort(contrib)[::-1] if towards_ai else np.argsort(contrib)
    out = []
    for i in order[:k]:
        if (contrib[i] > 0) != towards_ai or abs(contrib[i]) < 0.1:
            break
        name = RESID_FEATURES[i]
        out.append(f"{'more' if z[i] > 0 else 'less'} {CUE_WORDS.get(name, name)} than typical")
    return out
