"""Caption phrasings, each with a stable id, and the vocabulary that names IMU signals.

Every fact has several phrasings; the generator draws one per fact from a seeded RNG and
records its id. Templates are ``str.format`` strings with named fields:

* statistical: ``{name}``/``{Name}`` (series), ``{mean} {max} {min} {std}`` (numbers), ``{unit}``
* trends: ``{name}``, ``{trend}`` (increasing / decreasing / stable), ``{a_trend}`` ("an increasing"),
  ``{start} {end}`` (seconds from the window start), valued ones ``{v0} {v1}`` or ``{level}``, ``{unit}``, ``{bin}``
* steady: ``{names}`` (a list of series that do not change beyond the noise floor)
* anomalies: ``{name}``, ``{anomaly}`` (peak / spike / drop), ``{a_anomaly}``, ``{time}``
* activities: ``{activity}``/``{Activity}`` (the label's natural-language text), ``{start} {end} {duration}``
* summary: ``{list}`` ("walking (38.2 s) and standing (15 s)"), ``{activity1} {d1} {window}``

No template contains an activity word: the statistical and structural levels only ever say what
the signal does, so captions made with ``--no-labels`` carry no label information.
"""
from __future__ import annotations

import re
from typing import Iterable

#: Version of the caption generator; stored with every caption (bump when any output can change).
GENERATOR = "imudata.captions/1"

LOW: list[tuple[str, str]] = [
    ("low.00", "{Name} mean, max, min and std are {mean}, {max}, {min} and {std} {unit}."),
    ("low.01", "{Name} averages {mean} {unit}, ranging from {min} to {max} {unit} with a standard deviation of {std} {unit}."),
    ("low.02", "The {name} has a mean of {mean} {unit}, a maximum of {max} {unit}, a minimum of {min} {unit} and a standard deviation of {std} {unit}."),
    ("low.03", "{Name} has mean {mean} {unit}, max {max} {unit}, min {min} {unit} and std {std} {unit}."),
    ("low.04", "{Name} varies between {min} and {max} {unit} around a mean of {mean} {unit} (std {std} {unit})."),
    ("low.05", "The average {name} is {mean} {unit}; it peaks at {max} {unit}, bottoms out at {min} {unit} and has a spread of {std} {unit}."),
    ("low.06", "{Name} stays within {min} to {max} {unit}, with mean {mean} {unit} and standard deviation {std} {unit}."),
    ("low.07", "Mean {name} is {mean} {unit} (std {std} {unit}), with a maximum of {max} {unit} and a minimum of {min} {unit}."),
    ("low.08", "{Name} reaches a high of {max} {unit} and a low of {min} {unit}; its mean is {mean} {unit} and its standard deviation {std} {unit}."),
    ("low.09", "{Name} exhibits a mean of {mean} {unit}, with range {max} to {min} {unit} and a standard deviation of {std} {unit}."),
    ("low.10", "Over the window, {name} has mean {mean} {unit}, standard deviation {std} {unit}, maximum {max} {unit} and minimum {min} {unit}."),
    ("low.11", "{Name} spans {min} to {max} {unit}; mean {mean} {unit}, std {std} {unit}."),
]

TREND: list[tuple[str, str]] = [
    ("trend.00", "From second {start} to {end}, {name} shows {a_trend} trend."),
    ("trend.01", "{Name} is {trend} between second {start} and second {end}."),
    ("trend.02", "{Name} follows {a_trend} trend from second {start} to second {end}."),
    ("trend.03", "Between seconds {start} and {end}, the {name} is {trend}."),
    ("trend.04", "{A_trend} trend in {name} is seen from second {start} to {end}."),
    ("trend.05", "The {name} trend is {trend} over seconds {start} to {end}."),
    ("trend.06", "{Name} exhibits {a_trend} pattern during seconds {start} to {end}."),
    ("trend.07", "Seconds {start} to {end} show {a_trend} {name}."),
]

#: Trend phrasings that also state values (``{bin}``-second averages at the span's ends / its level).
TREND_VALUED: dict[str, list[tuple[str, str]]] = {
    "increasing": [
        ("trend.inc.00", "{Name} rises from {v0} to {v1} {unit} between second {start} and {end} ({bin}-second averages)."),
        ("trend.inc.01", "From second {start} to {end}, the {bin}-second average of {name} climbs from {v0} to {v1} {unit}."),
        ("trend.inc.02", "{Name} increases from {v0} {unit} to {v1} {unit} over seconds {start} to {end} ({bin}-second means)."),
    ],
    "decreasing": [
        ("trend.dec.00", "{Name} falls from {v0} to {v1} {unit} between second {start} and {end} ({bin}-second averages)."),
        ("trend.dec.01", "From second {start} to {end}, the {bin}-second average of {name} declines from {v0} to {v1} {unit}."),
        ("trend.dec.02", "{Name} decreases from {v0} {unit} to {v1} {unit} over seconds {start} to {end} ({bin}-second means)."),
    ],
    "stable": [
        ("trend.sta.00", "{Name} holds steady near {level} {unit} from second {start} to {end}."),
        ("trend.sta.01", "From second {start} to {end}, {name} stays close to {level} {unit}."),
    ],
}

STEADY: list[tuple[str, str]] = [
    ("steady.00", "{Names} {verb_stay} steady throughout the window."),
    ("steady.01", "{Names} {verb_show} no notable change across the window."),
    ("steady.02", "Throughout the window, {names} {verb_remain} nearly constant."),
]

ANOMALY: list[tuple[str, str]] = [
    ("anom.00", "{A_anomaly} in {name} is detected around second {time}."),
    ("anom.01", "{Name} shows {a_anomaly} around second {time}."),
    ("anom.02", "Around second {time}, there is {a_anomaly} in {name}."),
    ("anom.03", "{A_anomaly} occurs in {name} near second {time}."),
    ("anom.04", "At about second {time}, {name} has {a_anomaly}."),
    ("anom.05", "The {name} registers {a_anomaly} around second {time}."),
    ("anom.06", "{Name} experiences {a_anomaly} at roughly second {time}."),
    ("anom.07", "A notable {anomaly} in {name} appears around second {time}."),
]

ACTIVITY: list[tuple[str, str]] = [
    ("act.00", "{Activity} from second {start} to {end}."),
    ("act.01", "{Activity} was recorded between seconds {start} and {end}."),
    ("act.02", "Between second {start} and second {end}, the person was {activity}."),
    ("act.03", "The person was {activity} from second {start} to second {end}."),
    ("act.04", "{Activity} occurred during seconds {start} to {end}."),
    ("act.05", "From second {start} to {end}: {activity}."),
    ("act.06", "{Activity} is labelled from second {start} until second {end}."),
    ("act.07", "Seconds {start} to {end} were spent {activity}."),
    ("act.08", "{Activity} took place between second {start} and second {end} ({duration} s)."),
    ("act.09", "The activity from second {start} to {end} was {activity}."),
]

SUMMARY: list[tuple[str, str]] = [
    ("sum.00", "Activities in this window: {list}."),
    ("sum.01", "The person was {list}."),
    ("sum.02", "This window contains {list}."),
    ("sum.03", "Labelled activities: {list}."),
    ("sum.04", "During this window the person was {list}."),
]

#: Used instead of SUMMARY when one activity covers at least half of the window.
SUMMARY_DOMINANT: list[tuple[str, str]] = [
    ("sum.dom.00", "Mostly {activity1} ({d1} s of {window} s)."),
    ("sum.dom.01", "The person was mainly {activity1}, for {d1} of {window} seconds."),
]

SUMMARY_REST: list[tuple[str, str]] = [
    ("sum.rest.00", "Also {list}."),
    ("sum.rest.01", "The rest includes {list}."),
]

NO_ACTIVITY: list[tuple[str, str]] = [
    ("none.00", "No labelled activity lasts {min} s or more in this window."),
    ("none.01", "There is no labelled activity of at least {min} seconds."),
]

#: Every template by id (for parsing captions back and for documentation).
ALL: dict[str, str] = dict(LOW + TREND + STEADY + ANOMALY + ACTIVITY + SUMMARY + SUMMARY_DOMINANT + SUMMARY_REST
                           + NO_ACTIVITY + [t for v in TREND_VALUED.values() for t in v])

# --------------------------------------------------------------------------------------------
# vocabulary

SENSOR_NOUN: dict[str, str] = {
    "acc": "accelerometer", "gyro": "gyroscope", "mag": "magnetometer", "lacc": "linear acceleration sensor",
    "grav": "gravity sensor", "ori": "orientation sensor", "ecg": "ECG", "emg": "EMG", "eda": "EDA sensor",
    "temp": "thermometer", "hr": "heart rate sensor", "bvp": "PPG sensor", "resp": "respiration sensor",
    "baro": "barometer",
}

#: What the magnitude of a three-axis sensor is called.
MAGNITUDE_TEXT: dict[str, str] = {
    "acc": "acceleration magnitude", "gyro": "angular speed", "mag": "magnetic field strength",
    "lacc": "linear acceleration magnitude", "grav": "gravity magnitude",
}

#: What one axis of a sensor is called ("X-axis acceleration").
AXIS_TEXT: dict[str, str] = {
    "acc": "acceleration", "gyro": "angular rate", "mag": "magnetic field", "lacc": "linear acceleration",
    "grav": "gravity component", "ori": "orientation angle",
}

SCALAR_TEXT: dict[str, str] = {
    "ecg": "ECG", "emg": "EMG", "eda": "electrodermal activity", "temp": "temperature", "hr": "heart rate",
    "bvp": "blood volume pulse", "resp": "respiration", "baro": "barometric pressure",
}

INTENSITY_TEXT = "movement intensity"

#: Decimals used for numbers in each unit (two otherwise).
DECIMALS: dict[str, int] = {"bpm": 1, "hPa": 1, "µT": 1}


def fmt_num(v: float, decimals: int = 2) -> str:
    """A number with fixed decimals, never '-0.00'."""
    s = f"{v:.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def fmt_time(s: float) -> str:
    """Seconds as an integer when whole, else with one decimal."""
    r = round(s)
    if abs(s - r) < 1e-6:
        return str(int(r))
    return f"{s:.1f}"


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def join_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


# --------------------------------------------------------------------------------------------
# parsing captions back (tests, audits)

NUMBER = r"-?\d+(?:\.\d+)?"


def template_regex(text: str, fields: dict[str, str] | None = None) -> re.Pattern[str]:
    """A regex matching what a template produces, with one named group per field.

    ``fields`` maps a field to its sub-pattern (default: a number for numeric fields, lazy text
    otherwise); a field used twice must repeat the first match.
    """
    fields = fields or {}
    out, seen, pos = [], set(), 0
    for m in re.finditer(r"\{(\w+)\}", text):
        out.append(re.escape(text[pos:m.start()]))
        f = m.group(1)
        if f in seen:
            out.append(f"(?P={f})")
        else:
            seen.add(f)
            pat = fields.get(f, NUMBER if f in ("mean", "max", "min", "std", "v0", "v1", "level", "start", "end",
                                                 "time", "duration", "d1", "window", "bin") else r".+?")
            out.append(f"(?P<{f}>{pat})")
        pos = m.end()
    out.append(re.escape(text[pos:]))
    return re.compile("".join(out))


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
