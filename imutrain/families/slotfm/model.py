"""SlotFM (seed 001 §3, Algorithms 1-3): band encoders, soft 2-D positions, Time-Frequency Slot
Attention with fixed learned initial slots, band decoders with slot masks, and the downstream head.

Shapes: input (B, n_bands, 3, T); frames E (B, n_bands * T, D_enc); slots (B, K, D_slot);
reconstruction (B, n_bands, 3, T); masks (B, n_bands, K, T), softmax over K.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock1d(nn.Module):
    """Two same-length convolutions (kernel k) with a residual connection (full temporal length kept)."""

    def __init__(self, ch: int, k: int) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(ch, ch, k, padding=k // 2)
        self.c2 = nn.Conv1d(ch, ch, k, padding=k // 2)
        self.n1 = nn.GroupNorm(1, ch)
        self.n2 = nn.GroupNorm(1, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.n1(self.c1(x)))
        return F.gelu(x + self.n2(self.c2(h)))


class BandEncoder(nn.Module):
    """(B, 3, T) -> (B, T, ch): a stem convolution and ``blocks`` residual blocks."""

    def __init__(self, in_ch: int, ch: int, blocks: int, k: int) -> None:
        super().__init__()
        self.stem = nn.Conv1d(in_ch, ch, k, padding=k // 2)
        self.blocks = nn.Sequential(*[ResBlock1d(ch, k) for _ in range(blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).transpose(1, 2)


class SoftPosition2D(nn.Module):
    """Soft positional embedding over band x frame: 4 linear gradients (x, y, 1-x, 1-y) -> Linear,
    added to the features (Locatello et al. 2020; seed 001 A.2.3). Length-agnostic."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(4, dim)

    @staticmethod
    def grid(n_bands: int, T: int, device: torch.device) -> torch.Tensor:
        b = torch.linspace(0, 1, n_bands, device=device) if n_bands > 1 else torch.zeros(1, device=device)
        t = torch.linspace(0, 1, T, device=device) if T > 1 else torch.zeros(1, device=device)
        bb, tt = torch.meshgrid(b, t, indexing="ij")
        return torch.stack([bb, tt, 1 - bb, 1 - tt], -1).reshape(n_bands * T, 4)

    def forward(self, e: torch.Tensor, n_bands: int, T: int) -> torch.Tensor:
        return e + self.proj(self.grid(n_bands, T, e.device))


class SlotAttention(nn.Module):
    """Slot attention (Algorithm 2): softmax over slots, weighted-mean updates, GRU + residual MLP.

    ``init`` "fixed": learned initial slots (K, D) used as they are at every pass; "resampled":
    mu + sigma * noise per pass (the original method; the ablation)."""

    def __init__(self, slots: int, dim: int, hidden: int, iters: int, init: str = "fixed", eps: float = 1e-8) -> None:
        super().__init__()
        self.K, self.D, self.iters, self.init, self.eps = slots, dim, iters, init, eps
        self.slots_mu = nn.Parameter(torch.randn(1, slots, dim) * dim ** -0.5)
        self.slots_logsigma = nn.Parameter(torch.full((1, 1, dim), math.log(dim ** -0.5))) if init == "resampled" else None
        self.norm_in = nn.LayerNorm(dim)
        self.norm_slots = nn.LayerNorm(dim)
        self.norm_mlp = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.gru = nn.GRUCell(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def initial(self, B: int, device: torch.device, gen: torch.Generator | None = None) -> torch.Tensor:
        mu = self.slots_mu.expand(B, -1, -1)
        if self.slots_logsigma is None:
            return mu
        noise = torch.randn(mu.shape, generator=gen, device="cpu").to(device) if gen is not None \
            else torch.randn_like(mu)
        return mu + self.slots_logsigma.exp() * noise

    def forward(self, e: torch.Tensor, init: torch.Tensor | None = None,
                gen: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, D) frames -> slots (B, K, D) and the last attention (B, K, N) (sums to 1 over K)."""
        B = e.shape[0]
        e = self.norm_in(e)
        k, v = self.k(e), self.v(e)
        s = self.initial(B, e.device, gen) if init is None else init
        attn = e.new_zeros(B, s.shape[1], e.shape[1])
        for _ in range(self.iters):
            prev = s
            q = self.q(self.norm_slots(s))
            logits = torch.einsum("bkd,bnd->bkn", q, k) / math.sqrt(self.D)
            attn = logits.softmax(dim=1)                          # slots compete for each frame
            w = (attn + self.eps) / (attn + self.eps).sum(-1, keepdim=True)   # weighted mean over frames
            upd = torch.einsum("bkn,bnd->bkd", w, v)
            s = self.gru(upd.reshape(-1, self.D), prev.reshape(-1, self.D)).reshape(B, -1, self.D)
            s = s + self.mlp(self.norm_mlp(s))
        return s, attn


class BandDecoder(nn.Module):
    """One slot (D,) -> reconstruction (3, T) and mask logit (1, T): spatial broadcast over T with
    a 1-D position gradient, a stem convolution, ``blocks`` residual blocks, a 1x1 output."""

    def __init__(self, dim: int, ch: int, blocks: int, k: int, out_ch: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv1d(dim + 2, ch, k, padding=k // 2)
        self.blocks = nn.Sequential(*[ResBlock1d(ch, k) for _ in range(blocks)])
        self.out = nn.Conv1d(ch, out_ch + 1, 1)

    def forward(self, s: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = s.shape[0]
        t = torch.linspace(0, 1, T, device=s.device)
        pos = torch.stack([t, 1 - t], 0).expand(n, 2, T)
        h = torch.cat([s[:, :, None].expand(n, s.shape[1], T), pos], 1)
        o = self.out(self.blocks(self.stem(h)))
        return o[:, :-1], o[:, -1:]


class SlotFM(nn.Module):
    """The pretraining model: encode -> slots -> per-band decoders -> mask-blended reconstruction."""

    def __init__(self, cfg, n_bands: int) -> None:
        super().__init__()
        self.cfg, self.n_bands = cfg, n_bands
        self.encoders = nn.ModuleList([BandEncoder(3, cfg.enc_channels, cfg.enc_blocks, cfg.kernel) for _ in range(n_bands)])
        self.pos = SoftPosition2D(cfg.enc_channels)
        self.proj = nn.Sequential(nn.Linear(cfg.enc_channels, cfg.slot_dim), nn.LayerNorm(cfg.slot_dim))
        self.slot_attn = SlotAttention(cfg.slots, cfg.slot_dim, cfg.hidden, cfg.iters, cfg.slot_init)
        # the mean-pooling ablation: the frame grid's mean -> K x D pseudo-slots, no attention
        self.pool = nn.Linear(cfg.slot_dim, cfg.slots * cfg.slot_dim) if cfg.pooling == "mean" else None
        self.decoders = nn.ModuleList([BandDecoder(cfg.slot_dim, cfg.dec_channels, cfg.dec_blocks, cfg.kernel)
                                       for _ in range(n_bands)])

    @property
    def embed_dim(self) -> int:
        return self.cfg.slots * self.cfg.slot_dim

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_bands, 3, T) -> (B, n_bands * T, D_slot) projected frames with positions."""
        B, nb, _, T = x.shape
        e = torch.cat([enc(x[:, i]) for i, enc in enumerate(self.encoders)], 1)
        return self.proj(self.pos(e, nb, T))

    def encode(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """(B, n_bands, 3, T) -> slots (B, K, D_slot)."""
        e = self.frames(x)
        if self.pool is not None:
            return self.pool(e.mean(1)).reshape(x.shape[0], self.cfg.slots, self.cfg.slot_dim)
        return self.slot_attn(e, gen=gen)[0]

    def decode(self, slots: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
        """slots (B, K, D) -> reconstruction (B, n_bands, 3, T), masks (B, n_bands, K, T)."""
        B, K, D = slots.shape
        recs, masks = [], []
        for dec in self.decoders:
            r, m = dec(slots.reshape(B * K, D), T)
            r, m = r.reshape(B, K, -1, T), m.reshape(B, K, T).softmax(1)
            recs.append((m[:, :, None] * r).sum(1))
            masks.append(m)
        return torch.stack(recs, 1), torch.stack(masks, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.encode(x)
        rec, masks = self.decode(s, x.shape[-1])
        return rec, masks, s


class SlotHead(nn.Module):
    """Downstream head on frozen slots: one multi-head self-attention layer over slots (residual,
    pre-norm), flatten, MLP (seed 001 §3.1)."""

    def __init__(self, slots: int, dim: int, heads: int, hidden: int, n_cls: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(slots * dim), nn.Linear(slots * dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_cls))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        h = self.norm(s)
        s = s + self.attn(h, h, h, need_weights=False)[0]
        return self.mlp(s.flatten(1))
