"""CAPTURE-24 (Chan et al. 2024; University of Oxford): a wrist-worn accelerometer in free living for about a day.

Original layout (``capture24.zip`` from the Oxford University Research Archive, manual download)::

    capture24/P001.csv.gz ... P151.csv.gz
    capture24/metadata.csv                        (pid,age,sex)
    capture24/annotation-label-dictionary.csv     (annotation,label:<scheme>,... for six label schemes)

Each participant file is a gzip-compressed CSV with the header ``time,x,y,z,annotation``: ``time`` is the
local wall-clock time ``YYYY-MM-DD HH:MM:SS.ffffff`` without a time zone at 100 Hz, ``x, y, z`` are the
Axivity AX3 acceleration in g with gravity (±8 g, dominant wrist) and ``annotation`` is the free-text
camera/diary annotation (empty where nothing was annotated; large unannotated stretches are normal).

Labels: every distinct annotation string is its own label. ``Label.name`` is the annotation exactly as
written (typos such as ``office wok`` and double spaces are distinct keys), ``Label.text`` a readable
form (compendium code dropped, typos fixed, the MET value kept), and ids are the positions of the
annotations in the sorted vocabulary below: the union of the annotation-label-dictionary.csv of the
2024 release (206 annotations) and of the earlier ORA release (165), so both convert. ``plan`` checks
the copy's dictionary against it and fails before any work if a key is unknown. Empty annotations are
null. The dictionary's coarser label schemes (Willetts2018, Doherty2018, Walmsley2020, ...) are not
stored: the format has one label column.

Streaming and sessions: a participant file (about 9 million rows) is never held in memory. It is read
in blocks of ``READ_BLOCK_BYTES`` with ``pyarrow.csv.open_csv`` on a gzip stream and cut into sessions
as it goes: a new continuous recording starts wherever a time step is not 10 ± 5 ms (a gap, or time
going back at a clock change), and a continuous recording longer than ``MAX_SESSION_ROWS`` (one hour)
is yielded as consecutive sessions. Session ``<r>.<k>`` is the k-th hour of the r-th continuous
recording of that participant (``1.1``, ``1.2``, ..., ``2.1``); each is uniformly sampled and ``t``
continues across consecutive ``k`` (it is the wall-clock time in seconds since 1970-01-01 read as if
it were UTC), so pieces can be re-joined exactly. A session therefore never spans two shards, and a
reader holds at most one hour plus one block of rows.
"""
from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import Iterator

from ..errors import FormatError
from ..format import G, Channel, DatasetCard, Label, Stream
from ..registry import DatasetSpec, Plan, Session, Source
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs
pa = lazy("pyarrow", globals(), "pa")
pc = lazy("pyarrow.compute", globals(), "pc")
pacsv = lazy("pyarrow.csv", globals(), "pacsv")

RATE = 100.0
#: bytes of CSV text parsed at a time (a block is about 200,000 rows)
READ_BLOCK_BYTES = 8 << 20
#: rows of one session at most: a longer continuous recording is yielded as consecutive sessions
MAX_SESSION_ROWS = 360_000
#: a time step outside this range (microseconds) starts a new continuous recording
STEP_MIN_US, STEP_MAX_US = 5_000, 15_000
COLUMNS = ["time", "x", "y", "z", "annotation"]
N_SUBJECTS = 151
_FILE = re.compile(r"^(P\d{3})\.csv(\.gz)?$")

#: Every annotation of the 2024 release and of the earlier ORA release, sorted; label id = position.
VOCABULARY: tuple[str, ...] = tuple(sorted(set("""
7030 sleeping;MET 0.95
carrying heavy loads;MET 8.0
home activity;child/elderly/pet care;MET 2.3
home activity;child/elderly/pet care;child care;5181 walking and carrying child;MET 3.0
home activity;child/elderly/pet care;child care;5183 standing holding child;MET 2.0
home activity;child/elderly/pet care;child care;5185 child care sitting/kneeling  occasional lifting;MET 2.0
home activity;child/elderly/pet care;child care;5185 child care sitting/kneeling occasional lifting;MET 2.0
home activity;child/elderly/pet care;child care;5185 child care sitting/kneeling;MET 2.0
home activity;child/elderly/pet care;child care;5186 child care standing occasional lifting;MET 3.0
home activity;child/elderly/pet care;pet care;MET 2.5
home activity;eating;13030 eating sitting alone or with someone;MET 1.5
home activity;eating;13035 eating standing alone or with others;MET 2.0
home activity;household chores;grocery shopping;5060 shopping;MET 2.3
home activity;household chores;house cleaning;MET 2.5
home activity;household chores;house cleaning;floors;5010 cleaning sweeping carpet or floors;MET 3.3
home activity;household chores;house cleaning;floors;5131 scrubbing floors on hands and knees scrubbing bathroom bathtub;MET 2.0
home activity;household chores;house cleaning;floors;5140 sweeping garage sidewalk or outside of house;MET 4.0
home activity;household chores;house cleaning;furniture;5020 cleaning heavy such as car/windows/garage;MET 3.5
home activity;household chores;house cleaning;furniture;5032 dusting or polishing furniture;MET 2.3
home activity;household chores;house cleaning;miscellaneous;5100 making bed/changing linens;MET 3.3
home activity;household chores;preparing meals/cooking/washing dishes;5035 cleaning up table after meal implied walking (e.g. leaving from eating table to the kitchen);MET 3.3
home activity;household chores;preparing meals/cooking/washing dishes;5035 kitchen activity general cooking/washing/dishes/cleaning up;MET 3.3
home activity;household chores;preparing meals/cooking/washing dishes;5051 serving food/setting table implied walking and standing;MET 2.5
home activity;household chores;washing/ironing/mending clothes;5070 ironing;MET 1.8
home activity;household chores;washing/ironing/mending clothes;5080 knitting sewing wrapping presents sitting;MET 1.3
home activity;household chores;washing/ironing/mending clothes;5090 folding or hanging clothes/put clothes in or out of washer or dryer/packing suitcase limited walking;MET 2.0
home activity;household chores;washing/ironing/mending clothes;5095 putting away /gathering clothes involving walking;MET 2.3
home activity;lawn and garden;gardening service;8192 shoveling dirt or mud;MET 5.5
home activity;leisure;activities for maintenance of a household;miscellaneous;9100 retreat/family reunion activities involving sitting eating relaxing talking with more than one person;MET 1.8
home activity;leisure;activities for maintenance of a household;miscellaneous;9101 retreat/family reunion activities playing games with more than one person;MET 3.0
home activity;leisure;activities for maintenance of a household;with children;5170 sitting playing with child(ren);MET 2.2
home activity;leisure;activties for maintenance of a household;5170 sitting playing with child(ren);MET 2.2
home activity;leisure;activties for maintenance of a household;9100 retreat/family reunion activities involving sitting eating relaxing talking with more than one person;MET 1.8
home activity;leisure;activties for maintenance of a household;miscellaneous;9100 retreat/family reunion activities involving sitting eating relaxing talking with more than one person;MET 1.8
home activity;leisure;activties for maintenance of a household;with children;5170 sitting playing with child(ren);MET 2.2
home activity;leisure;mixed-activity;walking+activity;MET 3.0
home activity;leisure;sitting;sitstand+activity;MET 2.5
home activity;miscellaneous;5025 (generic) multiple household tasks all at once including standing/lifting/sitting;MET 2.8
home activity;miscellaneous;sitting;11580 office work such as writing and typing (with or without eating at the same time);MET 1.5
home activity;miscellaneous;sitting;11580 office/computer work general;MET 1.5
home activity;miscellaneous;sitting;21010 sitting non-desk work (with or without eating at the same time);MET 2.5
home activity;miscellaneous;sitting;5080 sitting non-desk work (with or without eating at the same time);MET 1.3
home activity;miscellaneous;sitting;7010 lying and watching television with TV on as the primary activity;MET 1.0
home activity;miscellaneous;sitting;7010 sitting/lying and watching television with TV on as the primary activity;MET 1.0
home activity;miscellaneous;sitting;7021 sitting without observable actiivties;MET 1.3
home activity;miscellaneous;sitting;7021 sitting without observable activities;MET 1.3
home activity;miscellaneous;sitting;9030  sitting desk work (with or without eating at the same time);MET 1.3
home activity;miscellaneous;sitting;9030 sitting desk entertainment/hobby (with or without eating at the same time);MET 1.3
home activity;miscellaneous;sitting;9030 sitting desk work (with or without eating at the same time);MET 1.3
home activity;miscellaneous;sitting;9055 sitting/lying talking in person/using a mobile phone/smartphone/tablet or talking on the phone/computer (skype chatting);MET 1.5
home activity;miscellaneous;sitting;9060 sitting reading or using a mobile phone/smartphone/tablet or talking on the phone/computer (skype chatting);MET 1.3
home activity;miscellaneous;sitting;9060 sitting/lying reading or without observable activities;MET 1.3
home activity;miscellaneous;sitting;9060 sitting/lying reading or without observable/identifiable activities;MET 1.3
home activity;miscellaneous;standing;5146 standing packing/unpacking household items occasional lifting;MET 3.5
home activity;miscellaneous;standing;5146 standing packing/unpaking household items occational lifting;MET 3.5
home activity;miscellaneous;standing;9020 standing writing/drawing/painting;MET 1.8
home activity;miscellaneous;standing;9050 standing talking in person on the phone/computer (skype chatting) or using a mobileo phone/smartphone/tablet;MET 1.8
home activity;miscellaneous;standing;9050 standing talking in person/on the phone/computer (skype chatting) or using a mobile phone/smartphone/tablet;MET 1.8
home activity;miscellaneous;standing;9070 standing reading or without observable/identifiable activities;MET 1.8
home activity;miscellaneous;standing;9070 standing reading or without obvious activities;MET 1.8
home activity;miscellaneous;standing;9071 (generic) standing miscellaneous;MET 2.5
home activity;miscellaneous;walking;17150 walking household without observable loads;MET 2.0
home activity;miscellaneous;walking;5121 walking with moving and lifting loads such as bikes and furniture;MET 4.0
home activity;miscellaneous;walking;5147 walking moving away light items (pens/papers/keys not included);MET 3.0
home activity;miscellaneous;walking;5165 (generic) walking non-cleaning task such as closing windows lock door putting away items;MET 3.5
home activity;self care;13000 getting ready for bed standing;MET 2.3
home activity;self care;13009 toilet eliminating or squatting;MET 1.8
home activity;self care;13020 dressing/undressing;MET 2.5
home activity;self care;13040 (generic) self care such as grooming/washing hands/shaving/brushing teeth/putting on make-up not eliminating and bathing (not necessary in the toilet);MET 2.0
home activity;self care;13045 hairstyling standing;MET 2.5
household-chores;sitstand+activity;MET 2.3
household-chores;sitstand+activity;MET 2.5
household-chores;sitstand+activity;MET 3.5
household-chores;sitstand+activity;MET 4.0
household-chores;sitstand+activity;social;MET 2.3
household-chores;sitstand+activity;social;MET 4.5
household-chores;sitstand+lowactivity;MET 1.3
household-chores;sitstand+lowactivity;MET 2.8
household-chores;walking+activity;MET 2.0
household-chores;walking+activity;MET 2.5
household-chores;walking+activity;MET 3.0
household-chores;walking+activity;MET 3.3
household-chores;walking+activity;social;MET 2.5
leisure;eating;13030 eating sitting indoor/outdoor;MET 1.5
leisure;eating;13035 eating standing indoor/outdoor;MET 2.0
leisure;eating;5060 buying foods or drinks as a takeaway;MET 2.3
leisure;eating;not-social;13030 eating sitting indoor/outdoor;MET 1.5
leisure;eating;not-social;13035 eating standing indoor/outdoor;MET 2.0
leisure;eating;not-social;5060 buying foods or drinks as a takeaway;MET 2.3
leisure;eating;social;13030 eating sitting indoor/outdoor;MET 1.5
leisure;eating;social;13035 eating standing indoor/outdoor;MET 2.0
leisure;eating;social;5060 buying foods or drinks as a takeaway;MET 2.3
leisure;miscellaneous;17031 loading /unloading a car implied walking;MET 3.5
leisure;miscellaneous;21000 sitting meeting or talking with others;MET 1.5
leisure;miscellaneous;21005 (generic) sitting light office writing typing work;MET 1.5
leisure;miscellaneous;21010 sitting non-desk work (with or without eating at the same time);MET 2.5
leisure;miscellaneous;21016 sitting child care only active periods;MET 2.0
leisure;miscellaneous;21017 standing child care only active periods;MET 3.0
leisure;miscellaneous;21070 (generic) walking/standing combination indoor;MET 3.0
leisure;miscellaneous;5060 shopping miscellaneous;MET 2.3
leisure;miscellaneous;9071 (generic) standing miscellaneous indoor or outdoor;MET 2.5
leisure;miscellaneous;sitting;21000 sitting meeting;MET 1.5
leisure;miscellaneous;sitting;21005 (generic) sitting light office writing typing work;MET 1.5
leisure;miscellaneous;sitting;21016 sitting child care only active periods;MET 2.0
leisure;miscellaneous;sitting;5080 sitting non-desk work (with or without eating at the same time);MET 1.3
leisure;miscellaneous;sitting;9055 sitting talking to person/using the phone;MET 1.5
leisure;miscellaneous;sitting;9060 (generic) sitting/lying reading or without observable activities;MET 1.3
leisure;miscellaneous;sitting;9060 (generic) sitting/lying reading or without observable/identifiable activities;MET 1.3
leisure;miscellaneous;standing;21017 standing child care only active periods;MET 3.0
leisure;miscellaneous;standing;9020 standing writing/drawing/painting;MET 1.8
leisure;miscellaneous;standing;9050 standing talking in person/using a phone/smartphone/tablet;MET 1.8
leisure;miscellaneous;standing;9070 standing reading or without observable/identifiable activities;MET 1.8
leisure;miscellaneous;standing;9070 standing reading or without obvious activities;MET 1.8
leisure;miscellaneous;standing;9071 (generic) standing miscellaneous;MET 2.5
leisure;miscellaneous;walking;17031 loading /unloading a car implied walking;MET 3.5
leisure;miscellaneous;walking;17070 descending stairs;MET 3.5
leisure;miscellaneous;walking;17133 walking upstairs;MET 4.0
leisure;miscellaneous;walking;21070 (generic) walking and occasional standing (no more than two consecutive images);MET 2.5
leisure;miscellaneous;walking;5060 shopping miscellaneous;MET 2.3
leisure;recreation;outdoor;5171 standing playing with child(ren);MET 2.8
leisure;recreation;outdoor;5175 walking/running playing with child(ren);MET 3.5
leisure;sports;gymnasium and athletics;athletics;12150 running;MET 8.0
leisure;sports;miscellaneous;17082 hiking or walking at a normal pace through fields and hillsides;MET 5.0
manual-work;MET 8.0
manual-work;sitstand+activity;MET 1.5
manual-work;sitstand+activity;MET 2.0
manual-work;sitstand+activity;MET 2.8
manual-work;sitstand+activity;MET 3.0
manual-work;sitstand+activity;MET 5.0
manual-work;sitstand+activity;MET 5.5
manual-work;walking+activity;MET 3.0
manual-work;walking+activity;MET 3.5
manual-work;walking+activity;MET 3.8
manual-work;walking+activity;MET 4.0
manual-work;walking+activity;MET 5.5
mixed-activity;MET 4.5
mixed-activity;sitstand+activity;MET 1.8
mixed-activity;sitstand+activity;MET 2.0
mixed-activity;sitstand+activity;MET 2.5
mixed-activity;sitstand+activity;MET 3.0
mixed-activity;sitstand+activity;MET 3.5
mixed-activity;sitstand+activity;MET 4.5
mixed-activity;sitstand+activity;social;MET 2.0
mixed-activity;sitstand+activity;social;MET 2.8
mixed-activity;sitstand+activity;social;MET 3.0
mixed-activity;social;MET 3.5
mixed-activity;walking+activity;MET 2.0
mixed-activity;walking+activity;MET 2.3
mixed-activity;walking+activity;MET 3.0
mixed-activity;walking+activity;MET 3.5
mixed-activity;walking+activity;social;MET 2.0
mixed-activity;walking+activity;social;MET 3.0
mixed-activity;walking;MET 5.0
occupation;interruption;11585 sitting meeting/talking to colleages with or without eating;MET 1.5
occupation;interruption;11585 sitting meeting/talking to colleagues with or without eating;MET 1.5
occupation;interruption;11791 walking on job in office or lab area;MET 2.0
occupation;interruption;11795 walking on job and carrying light objects such as boxes or pushing trolleys;MET 3.5
occupation;interruption;13009 toilet break;MET 1.8
occupation;interruption;13030 eating sitting;MET 1.5
occupation;interruption;13035 eating standing;MET 2.0
occupation;interruption;17133 walking upstairs;MET 4.0
occupation;interruption;5041 kitchen activity in the working place;MET 1.8
occupation;interruption;9015 standing scanning documents;MET 1.5
occupation;interruption;9020 standing writing/drawing/painting;MET 1.8
occupation;interruption;9050 standing talking in persone/using a phone/smartphone/tablet;MET 1.8
occupation;interruption;9055 sitting using a mobile phone/smartphone/tablet or talking on the phone/computer (skype meeting etc.);MET 1.5
occupation;interruption;9060 (generic) sitting without observable activities;MET 1.3
occupation;interruption;9060 (generic) sitting without observable/identifiable activities;MET 1.3
occupation;interruption;9060 sitting using a mobile phone/smartphone/tablet or talking on the phone/computer (skype meeting etc.);MET 1.3
occupation;interruption;9070 standing reading or without observable/identifiable activities;MET 1.8
occupation;interruption;9070 standing reading or without obvious activities;MET 1.8
occupation;interruption;miscellaneous;13009 toilet break;MET 1.8
occupation;interruption;miscellaneous;5041 kitchen activity in the working place;MET 1.8
occupation;interruption;sitting;11585 sitting meeting/talking to colleagues with or without eating;MET 1.5
occupation;interruption;sitting;13030 eating sitting;MET 1.5
occupation;interruption;sitting;9055 sitting using a mobile phone/smartphone/tablet or talking on the phone/computer (skype meeting etc.);MET 1.5
occupation;interruption;sitting;9060 sitting without observable/identifiable activities;MET 1.3
occupation;interruption;standing;13035 eating standing;MET 2.0
occupation;interruption;standing;9015 standing scanning documents;MET 1.5
occupation;interruption;standing;9020 standing writing/drawing/painting;MET 1.8
occupation;interruption;standing;9050 standing talking in person/using a phone/smartphone/tablet;MET 1.8
occupation;interruption;standing;9050 standing talking in persone/using a phone/smartphone/tablet;MET 1.8
occupation;interruption;standing;9070 standing reading or without observable/identifiable activities;MET 1.8
occupation;interruption;standing;9071 (generic) standing miscellaneous;MET 2.5
occupation;interruption;walking;11791 walking on job in office or lab area;MET 2.0
occupation;interruption;walking;11795 walking on job and carrying light objects such as boxes or pushing trolleys;MET 3.5
occupation;interruption;walking;17070 walking downstairs;MET 3.5
occupation;interruption;walking;17133 walking upstairs;MET 4.0
occupation;miscellaneous;11475 (generic) manual labour;MET 2.8
occupation;miscellaneous;11475 (generic) manual or unskilled labour;MET 2.8
occupation;miscellaneous;11615 (generic) standing lifting items continuously with limited walking;MET 4.5
occupation;office and administrative support;11580 office wok/computer work general;MET 1.5
occupation;office and administrative support;11580 office work/computer work general;MET 1.5
occupation;office and administrative support;11580 office/computer work general;MET 1.5
occupation;office and administrative support;11600 (generic) standing tasks such as store clerk/libarian/packing boxes/repair heavy parts;MET 3.0
occupation;office and administrative support;11600 (generic) standing tasks such as store clerk/librarian/packing boxes/repair heavy parts;MET 3.0
sitting;MET 1.3
sitting;screen;MET 1.0
sitting;sitstand+activity;MET 1.8
sitting;sitstand+activity;eating;MET 1.5
sitting;sitstand+activity;social;MET 1.8
sitting;sitstand+activity;social;MET 2.0
sitting;sitstand+activity;social;MET 2.3
sitting;sitstand+lowactivity;MET 1.3
sitting;sitstand+lowactivity;MET 1.5
sitting;sitstand+lowactivity;MET 2.5
sitting;sitstand+lowactivity;screen;MET 1.0
sitting;sitstand+lowactivity;screen;MET 1.3
sitting;sitstand+lowactivity;screen;MET 1.5
sitting;sitstand+lowactivity;social;MET 1.5
sitting;social;MET 2.5
sports/gym;MET 2.5
sports/gym;MET 2.8
sports/gym;MET 3.0
sports/gym;MET 3.5
sports/gym;MET 5.0
sports/gym;MET 5.3
sports/gym;MET 5.5
sports/gym;MET 6.0
sports/gym;MET 7.0
sports/gym;MET 8.0
sports/gym;MET 8.5
sports/gym;MET 9.0
standing;sitstand+activity;MET 1.8
standing;sitstand+activity;MET 2.0
standing;sitstand+activity;MET 2.5
standing;sitstand+activity;MET 3.0
standing;sitstand+activity;eating;MET 2.0
standing;sitstand+activity;screen;MET 1.8
standing;sitstand+activity;social;MET 1.8
standing;sitstand+activity;social;MET 2.5
standing;sitstand+lowactivity;MET 1.5
standing;walking+activity;MET 2.3
transportation;private transportation;1010 bicycling;MET 4.0
transportation;private transportation;16010 driving automobile or light truck (not a semi);MET 2.5
transportation;private transportation;16015 riding in a car or truck;MET 1.3
transportation;public transportation;16016 riding in a bus or train;MET 1.3
transportation;waiting;7021 sitting;MET 1.3
transportation;waiting;7040 standing in a line;MET 1.3
transportation;walking;12150 running;MET 8.0
transportation;walking;17161 walking not as the single means of transports e.g.from house to transports or vice versa/from car to places or vice versa/between transports;MET 2.5
transportation;walking;17250 walking as the single means to a destination not to work or class;MET 3.0
transportation;walking;17270 walking as the single means to work or class (not from);MET 3.5
transportation;walking;9050 standing miscellaneous (talking to others etc.);MET 1.8
transportation;walking;9071 standing miscellaneous (talking to others etc.);MET 2.5
vehicle;MET 1.3
vehicle;MET 2.8
walking;MET 3.0
walking;MET 3.5
walking;MET 4.0
walking;social;MET 3.0
walking;walking+activity;MET 3.5
walking;walking+activity;social;MET 3.0
""".strip("\n").split("\n"))))

_TYPOS = {"wok": "work", "colleages": "colleagues", "activties": "activities", "actiivties": "activities",
          "persone": "person", "libarian": "librarian", "mobileo": "mobile", "unpaking": "unpacking",
          "occational": "occasional", "e.g.from": "e.g. from"}
_TOKENS = {"sitstand+activity": "sitting or standing with activity",
           "sitstand+lowactivity": "sitting or standing with low activity",
           "walking+activity": "walking with activity", "household-chores": "household chores",
           "manual-work": "manual work", "mixed-activity": "mixed activity", "not-social": "not social",
           "screen": "using a screen"}


def _clean(part: str) -> str:
    part = re.sub(r"\s+", " ", part).strip()
    part = re.sub(r"^\(generic\)\s*", "", part)
    part = _TOKENS.get(part, part)
    part = re.sub(r"\s*/\s*", " or ", part)
    return " ".join(_TYPOS.get(w, w) for w in part.split(" "))


def readable(annotation: str) -> str:
    """Plain text for an annotation, e.g. '7030 sleeping;MET 0.95' -> 'sleeping (0.95 MET)'."""
    parts = [p for p in annotation.split(";") if p.strip()]
    met = None
    if parts and (m := re.fullmatch(r"\s*MET\s+([\d.]+)\s*", parts[-1])):
        met, parts = m.group(1), parts[:-1]
    specific, context = None, []
    for p in parts:
        m = re.match(r"^\s*\d+\s+(.*)$", p)
        if m:
            specific = _clean(m.group(1))
        else:
            context.append(_clean(p))
    tail = f"{met} MET" if met else ""
    if specific:
        inner = "; ".join(x for x in (", ".join(context), tail) if x)
        return f"{specific} ({inner})" if inner else specific
    head = ", ".join(context) or annotation.strip()
    return f"{head} ({tail})" if tail else head


LABELS = [Label(id=i, name=a, text=readable(a)) for i, a in enumerate(VOCABULARY)]


@functools.lru_cache(maxsize=1)
def _vocab_array() -> pa.Array:
    """VOCABULARY as an Arrow array, built at first use (``pa.array`` of a list imports pandas)."""
    return pa.array(list(VOCABULARY), type=pa.string())

CARD = DatasetCard(
    id="capture24",
    title="CAPTURE-24: wrist-worn accelerometer data collected in the wild",
    homepage="https://ora.ox.ac.uk/objects/uuid:99d7c092-d865-4a19-b096-cc16440cd001",
    license="CC BY 4.0 (Oxford University Research Archive)",
    citation=("S. Chan, H. Yuan, C. Tong, A. Acquah, A. Schonfeldt, J. Gershuny, A. Doherty, \"CAPTURE-24: A "
              "large dataset of wrist-worn activity tracker data collected in the wild for human activity "
              "recognition\", Scientific Data 11, 2024 (arXiv:2402.19229)."),
    description="151 adults in Oxfordshire wearing an Axivity AX3 on the dominant wrist for about a day in free "
                "living (about 3,900 hours at 100 Hz); about 2,500 hours are annotated from wearable-camera "
                "images and sleep diaries with detailed activity descriptions from the Compendium of Physical "
                "Activities.",
    streams=[Stream("imu", RATE, [
        Channel(f"wrist_acc_{a}", "acc", "wrist", "m/s²", "g", scale=G, axis=a, gravity="included", range="±8 g",
                description=f"Accelerometer {a.upper()}-axis (±8 g), Axivity AX3 on the dominant wrist, "
                            f"gravity included")
        for a in "xyz"], "Axivity AX3 wrist accelerometer, 100 Hz")],
    labels=LABELS,
    converter_version="1",
    facts={
        "rate": "100 Hz (authors' documentation; the files step by exactly 10 ms); session_start + t = wall-clock time.",
        "acc_unit": "g with gravity, ±8 g (documentation; no participant file was available to verify).",
        "placement": "dominant wrist (documentation).",
        "labels": "one label per distinct annotation string, ids by sorted string over the union of the 2024 and "
                  "the earlier release's dictionaries; empty annotation = null. Coarser schemes not stored.",
        "time": "local wall-clock time without zone, recorded as session_start (seconds since 1970-01-01 read as UTC) + t.",
        "sessions": "cut at every time step outside 5-15 ms and after every hour (MAX_SESSION_ROWS) of a "
                    "continuous recording; session <r>.<k> = hour k of continuous recording r; session_start + t continues across them.",
        "streaming": "files are read in blocks from the gzip stream (pyarrow.csv.open_csv), never whole.",
    },
)


# ----------------------------------------------------------------------------------------- reading

def dictionary_annotations(path: Path) -> list[str]:
    """The annotation keys of annotation-label-dictionary.csv (comma- or tab-separated), exactly as written."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        delim = "\t" if "\t" in first and "," not in first else ","
        header = next(csv.reader([first], delimiter=delim))
        if not header or header[0] != "annotation":
            raise FormatError(f"{path}: line 1: expected a first column named 'annotation', got {header[:1]}")
        return [row[0] for row in csv.reader(fh, delimiter=delim) if row]


def plan(root: Path) -> Plan:
    subjects = {m.group(1): str(f) for f in sorted(root.iterdir()) if (m := _FILE.match(f.name)) and f.is_file()}
    known = set(VOCABULARY)
    unknown = [a for a in dictionary_annotations(root / "annotation-label-dictionary.csv") if a not in known]
    if unknown:
        raise FormatError(f"{root / 'annotation-label-dictionary.csv'}: {len(unknown)} annotation(s) unknown to this "
                          f"converter (a newer CAPTURE-24 release?), e.g. {unknown[:3]}; imudata must be updated")
    missing = []
    meta = root / "metadata.csv"
    if meta.exists():
        with open(meta, newline="", encoding="utf-8-sig") as fh:
            pids = [row["pid"] for row in csv.DictReader(fh) if row.get("pid")]
        absent = [p for p in pids if p not in subjects]
        if absent and subjects:
            missing.append(f"{len(absent)} of {len(pids)} participants listed in metadata.csv: {', '.join(absent[:10])}"
                           + (" ..." if len(absent) > 10 else ""))
    elif subjects and len(subjects) < N_SUBJECTS:
        missing.append(f"{N_SUBJECTS - len(subjects)} of {N_SUBJECTS} participant files")
    return Plan(subjects=subjects, missing=missing)


def batches(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(time in µs, acceleration (n, 3) in g, label ids with -1 = no annotation) block by block."""
    stream = pa.input_stream(str(path), compression="gzip" if path.name.endswith(".gz") else None)
    convert = pacsv.ConvertOptions(
        column_types={"time": pa.timestamp("us"), "x": pa.float64(), "y": pa.float64(), "z": pa.float64(),
                      "annotation": pa.string()},
        include_columns=COLUMNS, strings_can_be_null=True, null_values=["", "NA"])
    row = 2
    try:
        reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=READ_BLOCK_BYTES),
                                convert_options=convert)
        for batch in reader:
            n = batch.num_rows
            for name in COLUMNS[:4]:
                col = batch.column(name)
                if col.null_count:
                    i = int(pc.index(col.is_null(), True).as_py())
                    raise FormatError(f"{path}: line {row + i}: empty {name}")
            t = batch.column("time").cast(pa.int64()).to_numpy()
            xyz = np.column_stack([batch.column(c).to_numpy() for c in "xyz"])
            ann = batch.column("annotation")
            idx = pc.index_in(ann, value_set=_vocab_array())
            unknown = pc.and_(ann.is_valid(), idx.is_null())
            if pc.any(unknown).as_py():
                i = int(pc.index(unknown, True).as_py())
                raise FormatError(f"{path}: line {row + i}: annotation {ann[i].as_py()!r} is not in the CAPTURE-24 "
                                  f"annotation dictionary")
            label = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int16)
            row += n
            yield t, xyz, label
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowKeyError) as exc:
        raise FormatError(f"{path}: near line {row}: expected the header {','.join(COLUMNS)} and rows "
                          f"'YYYY-MM-DD HH:MM:SS.ffffff,x,y,z,annotation' ({exc})") from exc
    finally:
        stream.close()


def read(root: Path, subject: str, unit: str) -> Iterator[Session]:
    path = Path(unit)
    buf: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    buffered = 0
    rec, part = 1, 1
    prev: int | None = None

    def emit() -> Session:
        t = np.concatenate([b[0] for b in buf])
        xyz = np.concatenate([b[1] for b in buf])
        lab = np.concatenate([b[2] for b in buf])
        cols = {f"wrist_acc_{a}": xyz[:, i] for i, a in enumerate("xyz")}
        return Session("imu", subject, f"{rec}.{part}", cols, lab, t / 1e6)

    for t, xyz, lab in batches(path):
        if len(t) == 0:
            continue
        step = np.diff(t, prepend=t[0] if prev is None else prev)
        if prev is None:
            step[0] = (STEP_MIN_US + STEP_MAX_US) // 2
        cuts = np.flatnonzero((step < STEP_MIN_US) | (step > STEP_MAX_US)).tolist()
        start = 0
        for cut in [*cuts, len(t)]:
            while start < cut:
                take = min(cut - start, MAX_SESSION_ROWS - buffered)
                buf.append((t[start:start + take], xyz[start:start + take], lab[start:start + take]))
                buffered += take
                start += take
                if buffered == MAX_SESSION_ROWS:
                    yield emit()
                    buf, buffered, part = [], 0, part + 1
            if cut < len(t):  # a gap before row `cut`: the next row starts a new continuous recording
                if buf:
                    yield emit()
                buf, buffered = [], 0
                rec, part = rec + 1, 1
        prev = int(t[-1])
    if buf:
        yield emit()


SPEC = DatasetSpec(
    card=CARD,
    sources=[Source(
        filename="capture24.zip",
        urls=["https://ora.ox.ac.uk/objects/uuid:99d7c092-d865-4a19-b096-cc16440cd001/download_file?"
              "file_format=&safe_filename=capture24.zip&type_of_work=Dataset"],
        manual=("CAPTURE-24 is downloaded by hand from the Oxford University Research Archive (licence terms are "
                "accepted in the browser): open https://ora.ox.ac.uk/objects/uuid:99d7c092-d865-4a19-b096-cc16440cd001, "
                "download capture24.zip (several GB), then either save it as {dest} and run `imudata fetch {id}` "
                "again, or run `imudata fetch {id} --from /path/to/capture24.zip`."),
    )],
    marker="annotation-label-dictionary.csv",
    layout=('P[0-9][0-9][0-9].csv.gz', 'P[0-9][0-9][0-9].csv', 'annotation-label-dictionary.csv'),
    plan=plan,
    read=read,
    aliases=("capture-24",),
    hours=3883.0,
    n_subjects=N_SUBJECTS,
)
