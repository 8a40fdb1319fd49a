"""One label vocabulary across datasets: every dataset label maps to a canonical activity.

A :class:`Canonical` label has a ``name`` (snake case, unique), a natural-language ``text``
("walking upstairs"), ``synonyms`` (other phrasings, for text augmentation and soft targets), a
``group`` (labels a zero-shot scorer accepts as the same answer) and a ``coarse`` class (a second,
looser level: "stairs" holds ascending, descending and unspecified stairs). ``activity`` is False
for states that are not physical activities (WESAD's affective states, null/transient classes);
:func:`vocabulary` leaves those out unless asked.

The map from dataset labels to canonical names is a table in this module (``DATASET_LABELS``).
A dataset label is matched by its *name* (then its text) as the converter stores it in the card,
compared case- and punctuation-insensitively, so converters that number string-labelled datasets
(HHAR, WISDM, MotionSense, ...) in their own order still map correctly. Datasets whose ids come
from the original release (PAMAP2, HAPT, DSADS, ...) also carry the id, used when no card is
registered. ``docs/labels.md`` explains the choices; ``imudata labels [NAME]`` prints the map.

API: :func:`canonical`, :func:`mapping`, :func:`vocabulary`, :func:`groups`, :func:`lookup`,
:func:`table`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from .errors import ImudataError


class UnknownLabel(ImudataError, LookupError):
    """A (dataset, label) pair, a dataset or a canonical name that the vocabulary does not know."""


@dataclass(frozen=True)
class Canonical:
    """A canonical activity: unique snake-case ``name``, plain ``text``, ``synonyms``, ``group``."""

    name: str
    text: str
    synonyms: tuple[str, ...]
    group: str
    coarse: str
    activity: bool = True

    @property
    def texts(self) -> tuple[str, ...]:
        """The text followed by every synonym (what a text encoder should see)."""
        return (self.text, *self.synonyms)


@dataclass(frozen=True)
class LabelMapping:
    """One dataset label and the canonical label it maps to (the dataset's own id and name kept)."""

    dataset: str
    id: int | None
    name: str
    text: str
    canonical: Canonical


# --------------------------------------------------------------------------------------------
# Canonical labels: (name, text, group, coarse, synonyms)
# --------------------------------------------------------------------------------------------
_ACTIVITIES: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    # walking and other locomotion
    ("walking", "walking", "walking", "locomotion",
     ("walk", "walking forward", "walking on level ground", "strolling")),
    ("walking_circle_left", "walking counter-clockwise in a circle", "walking", "locomotion",
     ("walking in a circle to the left", "walking while turning left")),
    ("walking_circle_right", "walking clockwise in a circle", "walking", "locomotion",
     ("walking in a circle to the right", "walking while turning right")),
    ("walking_circle", "walking in a circle", "walking", "locomotion", ("walking around in a circle",)),
    ("walking_backwards", "walking backwards", "walking", "locomotion", ("walking in reverse", "backward walking")),
    ("walking_parking_lot", "walking in a parking lot", "walking", "locomotion", ("walking outdoors on a car park",)),
    ("walking_treadmill_flat", "walking on a flat treadmill", "walking", "locomotion",
     ("treadmill walking at 4 km/h", "walking on a level treadmill")),
    ("walking_treadmill_incline", "walking on an inclined treadmill", "walking", "locomotion",
     ("uphill treadmill walking", "walking on a treadmill inclined 15 degrees")),
    ("nordic_walking", "Nordic walking", "walking", "locomotion", ("walking with poles", "pole walking")),
    ("gait_without_freeze", "walking, turning or standing without freezing of gait", "walking", "locomotion",
     ("Parkinsonian gait without freezing", "walking and turning during a gait test")),
    ("jogging", "jogging", "running", "locomotion", ("running slowly", "light running", "slow run")),
    ("running", "running", "running", "locomotion", ("run", "running fast", "sprinting")),
    ("running_treadmill", "running on a treadmill", "running", "locomotion", ("treadmill running at 8 km/h",)),
    # stairs
    ("walking_upstairs", "walking upstairs", "ascending_stairs", "stairs",
     ("ascending stairs", "going up stairs", "stairs up", "climbing up stairs", "walking up a staircase")),
    ("climbing_stairs", "climbing stairs", "ascending_stairs", "stairs", ("stair climbing", "going up the stairs")),
    ("walking_downstairs", "walking downstairs", "descending_stairs", "stairs",
     ("descending stairs", "going down stairs", "stairs down", "walking down a staircase")),
    ("using_stairs", "walking up and down stairs", "stairs", "stairs",
     ("taking the stairs", "stairs", "going up and down a staircase")),
    # static postures
    ("sitting", "sitting", "sitting", "stationary", ("sitting still", "seated", "sitting on a chair")),
    ("sitting_relaxing", "sitting and relaxing", "sitting", "stationary", ("resting while seated",)),
    ("talking_sitting", "talking while sitting", "sitting", "stationary", ("sitting and talking", "seated conversation")),
    ("watching_tv", "watching TV", "sitting", "stationary", ("watching television", "sitting in front of the TV")),
    ("standing", "standing", "standing", "stationary", ("standing still", "standing upright", "upright stance")),
    ("talking_standing", "talking while standing", "standing", "stationary", ("standing and talking",)),
    ("standing_elevator", "standing still in an elevator", "standing", "stationary", ("standing in a lift",)),
    ("shuffling", "shuffling the feet while standing", "standing", "stationary",
     ("standing with small leg movements", "stepping in place")),
    ("lying", "lying down", "lying", "stationary", ("lying", "laying", "reclining", "lying flat")),
    ("lying_back", "lying on the back", "lying", "stationary", ("lying supine", "lying face up")),
    ("lying_side", "lying on the side", "lying", "stationary", ("lying on the right side", "lying on one side")),
    ("sleeping", "sleeping", "lying", "stationary", ("asleep", "sleep", "lying asleep")),
    # postural transitions
    ("stand_to_sit", "sitting down from standing", "transition_to_sitting", "transition",
     ("sitting down", "sit down", "taking a seat")),
    ("lie_to_sit", "sitting up from lying", "transition_to_sitting", "transition",
     ("sitting up", "getting up from lying to sitting")),
    ("sit_to_stand", "standing up from sitting", "transition_to_standing", "transition",
     ("standing up", "getting up from a chair", "rising from a seat")),
    ("lie_to_stand", "standing up from lying", "transition_to_standing", "transition",
     ("getting up from lying", "getting out of bed")),
    ("sit_to_lie", "lying down from sitting", "transition_to_lying", "transition", ("lying down from a seat",)),
    ("stand_to_lie", "lying down from standing", "transition_to_lying", "transition",
     ("going to lie down", "lying down from an upright position")),
    ("sit_stand_repeated", "repeatedly standing up from sitting and sitting down again", "sit_stand_cycles",
     "transition", ("sit-to-stand repetitions", "sitting down and standing up in turn")),
    ("lie_stand_repeated", "repeatedly standing up from lying and lying down again", "lie_stand_cycles",
     "transition", ("lie-to-stand repetitions", "lying down and getting up in turn")),
    ("picking_up", "picking up an object from the floor", "picking_up", "transition",
     ("bending down to pick something up", "picking something up")),
    # cycling
    ("cycling", "cycling", "cycling", "cycling", ("biking", "riding a bicycle", "bicycling")),
    ("cycling_sitting", "cycling while seated", "cycling", "cycling", ("seated cycling", "pedalling while sitting")),
    ("cycling_standing", "cycling while standing on the pedals", "cycling", "cycling",
     ("standing cycling", "pedalling out of the saddle")),
    ("cycling_sitting_inactive", "sitting on a bicycle without pedalling", "cycling", "cycling",
     ("coasting on a bicycle while seated", "freewheeling seated")),
    ("cycling_standing_inactive", "standing on a bicycle without pedalling", "cycling", "cycling",
     ("coasting on a bicycle while standing", "freewheeling standing")),
    ("cycling_exercise_bike_horizontal", "cycling on an exercise bike in horizontal position", "cycling", "cycling",
     ("recumbent exercise bike", "cycling on a recumbent bike")),
    ("cycling_exercise_bike_vertical", "cycling on an exercise bike in vertical position", "cycling", "cycling",
     ("upright exercise bike", "stationary cycling")),
    ("cycling_stationary", "riding a stationary bike", "cycling", "cycling", ("indoor cycling", "spinning")),
    # jumping
    ("jumping", "jumping", "jumping", "exercise", ("jumping up and down", "hopping", "jumping in place")),
    ("jumping_front_back", "jumping forwards and backwards", "jumping", "exercise", ("jumping back and forth",)),
    ("rope_jumping", "jumping rope", "jumping", "exercise", ("rope skipping", "skipping rope", "skipping")),
    # exercise machines and gym
    ("exercising_stepper", "exercising on a stepper", "cardio_machine", "exercise", ("stepper machine workout",)),
    ("exercising_cross_trainer", "exercising on a cross trainer", "cardio_machine", "exercise",
     ("elliptical trainer", "cross-trainer workout")),
    ("rowing", "rowing", "cardio_machine", "exercise", ("rowing on a rowing machine", "ergometer rowing")),
    ("stair_climber", "exercising on a stair climber machine", "cardio_machine", "exercise",
     ("stair-climbing machine", "stairmaster")),
    ("adductor_machine", "exercising on an adductor machine", "gym_weights", "exercise",
     ("hip adduction machine", "inner thigh machine")),
    ("arm_curl", "doing arm curls", "gym_weights", "exercise", ("biceps curls", "dumbbell curls")),
    ("bench_press", "doing bench presses", "gym_weights", "exercise", ("bench press", "chest press on a bench")),
    ("leg_curl", "doing leg curls", "gym_weights", "exercise", ("hamstring curls", "leg curl machine")),
    ("leg_press", "doing leg presses", "gym_weights", "exercise", ("leg press machine",)),
    ("squat", "doing squats", "gym_weights", "exercise", ("squatting", "weighted squats")),
    ("push_up", "doing push-ups", "push_up", "exercise", ("push ups", "press ups")),
    ("sit_up", "doing sit-ups", "sit_up", "exercise", ("sit ups", "crunches")),
    ("waist_bends_forward", "bending forward at the waist", "waist_exercise", "exercise",
     ("forward waist bends", "bending over repeatedly")),
    ("frontal_elevation_arms", "raising the arms in front of the body", "arm_exercise", "exercise",
     ("frontal arm raises", "lifting the arms forward")),
    ("knees_bending", "bending the knees (crouching)", "leg_exercise", "exercise",
     ("crouching", "knee bends", "bending the knees repeatedly")),
    # sports
    ("playing_basketball", "playing basketball", "sports", "sports", ("basketball",)),
    ("dribbling_basketball", "dribbling a basketball", "sports", "sports", ("bouncing a basketball",)),
    ("playing_soccer", "playing soccer", "sports", "sports", ("playing football", "soccer")),
    ("kicking_ball", "kicking a soccer ball", "sports", "sports", ("kicking a football",)),
    ("playing_catch", "playing catch with a tennis ball", "sports", "sports", ("throwing and catching a ball",)),
    ("playing_table_tennis", "playing table tennis", "sports", "sports", ("ping pong",)),
    ("sports", "doing sports", "sports", "sports", ("playing a sport", "sport")),
    # daily living
    ("typing", "typing on a keyboard", "desk_work", "daily_living", ("typing", "keyboard typing")),
    ("writing", "writing with a pen", "desk_work", "daily_living", ("handwriting", "writing by hand")),
    ("computer_work", "working at a computer", "desk_work", "daily_living", ("office work at a computer",)),
    ("brushing_teeth", "brushing teeth", "grooming", "daily_living", ("tooth brushing",)),
    ("self_care", "personal care (washing, dressing, grooming)", "grooming", "daily_living",
     ("getting washed and dressed", "personal hygiene")),
    ("eating_soup", "eating soup", "eating", "daily_living", ("eating soup with a spoon",)),
    ("eating_chips", "eating chips", "eating", "daily_living", ("eating crisps", "snacking")),
    ("eating_pasta", "eating pasta", "eating", "daily_living", ("eating pasta with a fork",)),
    ("eating_sandwich", "eating a sandwich", "eating", "daily_living", ("eating a sandwich with the hands",)),
    ("drinking", "drinking from a cup", "eating", "daily_living", ("drinking", "sipping a drink", "drink from cup")),
    ("eating", "eating", "eating", "daily_living", ("having a meal", "eating food")),
    ("clapping", "clapping", "clapping", "daily_living", ("clapping hands", "applauding")),
    ("folding_clothes", "folding clothes", "folding_clothes", "daily_living", ("folding laundry",)),
    ("ironing", "ironing clothes", "ironing", "daily_living", ("ironing",)),
    ("vacuum_cleaning", "vacuum cleaning", "vacuum_cleaning", "daily_living", ("vacuuming", "hoovering")),
    ("house_cleaning", "cleaning the house", "household_chores", "daily_living", ("house cleaning", "doing housework")),
    ("household_chores", "doing household chores", "household_chores", "daily_living",
     ("housework", "domestic chores")),
    ("manual_work", "doing manual work", "manual_work", "daily_living", ("physical labour", "manual labour")),
    ("relaxing", "relaxing", "relaxing", "daily_living", ("taking a break", "resting")),
    ("preparing_coffee", "making and drinking coffee", "preparing_food", "daily_living", ("coffee time",)),
    ("preparing_sandwich", "making and eating a sandwich", "preparing_food", "daily_living", ("sandwich time",)),
    ("morning_routine", "an early-morning routine (moving around the flat, handling objects)", "daily_routine",
     "daily_living", ("early morning",)),
    ("cleaning_up", "cleaning up the kitchen", "household_chores", "daily_living", ("cleanup", "tidying up")),
    ("open_door", "opening a door", "door", "daily_living", ("open door",)),
    ("close_door", "closing a door", "door", "daily_living", ("close door",)),
    ("open_fridge", "opening the fridge", "fridge", "daily_living", ("open fridge",)),
    ("close_fridge", "closing the fridge", "fridge", "daily_living", ("close fridge",)),
    ("open_dishwasher", "opening the dishwasher", "dishwasher", "daily_living", ("open dishwasher",)),
    ("close_dishwasher", "closing the dishwasher", "dishwasher", "daily_living", ("close dishwasher",)),
    ("open_drawer", "opening a drawer", "drawer", "daily_living", ("open drawer",)),
    ("close_drawer", "closing a drawer", "drawer", "daily_living", ("close drawer",)),
    ("clean_table", "wiping the table", "household_chores", "daily_living", ("clean table", "cleaning a table")),
    ("toggle_switch", "toggling a light switch", "switch", "daily_living", ("flipping a switch",)),
    ("mixed_activity", "mixed everyday activity", "mixed_activity", "daily_living",
     ("miscellaneous activity", "various activities")),
    ("light_activity", "light physical activity", "light_activity", "daily_living",
     ("light tasks", "light movement")),
    ("moderate_activity", "moderate to vigorous physical activity", "moderate_activity", "exercise",
     ("moderate activity", "vigorous activity")),
    ("sedentary", "sedentary behaviour (sitting or lying awake)", "sitting", "stationary",
     ("being sedentary", "sitting or lying still")),
    ("sitting_or_standing", "sitting or standing", "sit_stand", "stationary", ("sit-stand", "sitting or standing still")),
    # vehicles and elevators
    ("driving", "driving a car", "vehicle", "vehicle", ("car driving", "driving")),
    ("vehicle", "riding in a vehicle", "vehicle", "vehicle", ("travelling by car, bus or train", "in a vehicle")),
    ("car_step_in", "getting into a car", "vehicle_entry", "vehicle", ("stepping into a car",)),
    ("car_step_out", "getting out of a car", "vehicle_entry", "vehicle", ("stepping out of a car",)),
    ("moving_in_elevator", "moving around in an elevator", "elevator", "vehicle", ("moving in a lift",)),
    ("elevator_up", "riding an elevator up", "elevator", "vehicle", ("going up in a lift", "elevator up")),
    ("elevator_down", "riding an elevator down", "elevator", "vehicle", ("going down in a lift", "elevator down")),
    # falls
    ("falling_forward", "falling forward", "falling", "falling", ("a forward fall", "falling on the face")),
    ("falling_backward", "falling backward", "falling", "falling", ("a backward fall", "falling on the back")),
    ("falling_left", "falling to the left", "falling", "falling", ("a fall to the left side",)),
    ("falling_right", "falling to the right", "falling", "falling", ("a fall to the right side",)),
    ("falling_sideways", "falling sideways", "falling", "falling", ("a sideways fall", "falling to the side")),
    ("falling_forward_knees", "falling forward onto the knees", "falling", "falling", ("a fall onto the knees",)),
    ("falling_backward_sitting", "falling backward into a sitting position", "falling", "falling",
     ("falling back onto a chair",)),
    ("falling_hitting_obstacle", "falling after hitting an obstacle", "falling", "falling", ("tripping over an obstacle",)),
    ("falling_with_protection", "falling with a protective reaction", "falling", "falling",
     ("breaking a fall with the arms",)),
    ("syncope", "fainting", "falling", "falling", ("syncope", "collapsing", "passing out")),
    # gait disorders
    ("freezing_of_gait", "freezing of gait (a sudden inability to step)", "freezing_of_gait", "gait_disorder",
     ("gait freeze", "Parkinsonian freezing")),
]

#: Not physical activities: kept in the vocabulary, flagged ``activity=False``.
_NON_ACTIVITIES: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("affect_baseline", "a neutral, relaxed baseline state", "affective_state", "affect", ("neutral state", "baseline")),
    ("affect_stress", "being under psychological stress", "affective_state", "affect", ("stressed", "stress")),
    ("affect_amusement", "being amused", "affective_state", "affect", ("amused", "amusement")),
    ("affect_meditation", "meditating in a relaxed state", "affective_state", "affect", ("meditation", "calm breathing")),
    ("null", "no activity label (transient, unannotated or to be ignored)", "null", "null",
     ("unlabelled", "transient activity", "other")),
]

_CANONICAL: dict[str, Canonical] = {}
for _row in _ACTIVITIES:
    _CANONICAL[_row[0]] = Canonical(_row[0], _row[1], _row[4], _row[2], _row[3], True)
for _row in _NON_ACTIVITIES:
    _CANONICAL[_row[0]] = Canonical(_row[0], _row[1], _row[4], _row[2], _row[3], False)


# --------------------------------------------------------------------------------------------
# Dataset label -> canonical name. Each row: (id or None, names the converter may use, canonical).
# An id is given only where the original release numbers its classes; names are matched after
# lower-casing and dropping everything but letters and digits.
# --------------------------------------------------------------------------------------------
_Row = tuple[int | None, tuple[str, ...], str]

DATASET_LABELS: dict[str, list[_Row]] = {
    "pamap2": [
        (0, ("other", "transient", "other (transient activities)"), "null"),
        (1, ("lying",), "lying"),
        (2, ("sitting",), "sitting"),
        (3, ("standing",), "standing"),
        (4, ("walking",), "walking"),
        (5, ("running",), "running"),
        (6, ("cycling",), "cycling"),
        (7, ("Nordic walking",), "nordic_walking"),
        (9, ("watching TV",), "watching_tv"),
        (10, ("computer work",), "computer_work"),
        (11, ("car driving",), "driving"),
        (12, ("ascending stairs",), "walking_upstairs"),
        (13, ("descending stairs",), "walking_downstairs"),
        (16, ("vacuum cleaning",), "vacuum_cleaning"),
        (17, ("ironing",), "ironing"),
        (18, ("folding laundry",), "folding_clothes"),
        (19, ("house cleaning",), "house_cleaning"),
        (20, ("playing soccer",), "playing_soccer"),
        (24, ("rope jumping",), "rope_jumping"),
    ],
    "ucihar": [
        (1, ("WALKING",), "walking"),
        (2, ("WALKING_UPSTAIRS",), "walking_upstairs"),
        (3, ("WALKING_DOWNSTAIRS",), "walking_downstairs"),
        (4, ("SITTING",), "sitting"),
        (5, ("STANDING",), "standing"),
        (6, ("LAYING", "lying"), "lying"),
    ],
    "hapt": [
        (1, ("WALKING",), "walking"),
        (2, ("WALKING_UPSTAIRS",), "walking_upstairs"),
        (3, ("WALKING_DOWNSTAIRS",), "walking_downstairs"),
        (4, ("SITTING",), "sitting"),
        (5, ("STANDING",), "standing"),
        (6, ("LAYING", "lying"), "lying"),
        (7, ("STAND_TO_SIT",), "stand_to_sit"),
        (8, ("SIT_TO_STAND",), "sit_to_stand"),
        (9, ("SIT_TO_LIE",), "sit_to_lie"),
        (10, ("LIE_TO_SIT",), "lie_to_sit"),
        (11, ("STAND_TO_LIE",), "stand_to_lie"),
        (12, ("LIE_TO_STAND",), "lie_to_stand"),
    ],
    "wesad": [
        (0, ("not defined", "transient", "not defined / transient", "undefined"), "null"),
        (1, ("baseline",), "affect_baseline"),
        (2, ("stress", "stress (TSST)"), "affect_stress"),
        (3, ("amusement",), "affect_amusement"),
        (4, ("meditation",), "affect_meditation"),
        (5, ("ignore (5)", "ignore5"), "null"),
        (6, ("ignore (6)", "ignore6"), "null"),
        (7, ("ignore (7)", "ignore7"), "null"),
    ],
    "dsads": [
        (1, ("sitting",), "sitting"),
        (2, ("standing",), "standing"),
        (3, ("lying on back",), "lying_back"),
        (4, ("lying on right side",), "lying_side"),
        (5, ("ascending stairs",), "walking_upstairs"),
        (6, ("descending stairs",), "walking_downstairs"),
        (7, ("standing in an elevator still", "standing in an elevator (still)"), "standing_elevator"),
        (8, ("moving around in an elevator",), "moving_in_elevator"),
        (9, ("walking in a parking lot",), "walking_parking_lot"),
        (10, ("walking on a treadmill 4 km/h flat", "walking on a treadmill, 4 km/h, flat"), "walking_treadmill_flat"),
        (11, ("walking on a treadmill 4 km/h 15 deg inclined", "walking on a treadmill, 4 km/h, 15° inclined"),
         "walking_treadmill_incline"),
        (12, ("running on a treadmill 8 km/h", "running on a treadmill, 8 km/h"), "running_treadmill"),
        (13, ("exercising on a stepper",), "exercising_stepper"),
        (14, ("exercising on a cross trainer",), "exercising_cross_trainer"),
        (15, ("cycling on an exercise bike horizontal", "cycling on an exercise bike, horizontal position"),
         "cycling_exercise_bike_horizontal"),
        (16, ("cycling on an exercise bike vertical", "cycling on an exercise bike, vertical position"),
         "cycling_exercise_bike_vertical"),
        (17, ("rowing",), "rowing"),
        (18, ("jumping",), "jumping"),
        (19, ("playing basketball",), "playing_basketball"),
    ],
    "uschad": [
        (1, ("Walking Forward",), "walking"),
        (2, ("Walking Left",), "walking_circle_left"),
        (3, ("Walking Right",), "walking_circle_right"),
        (4, ("Walking Upstairs",), "walking_upstairs"),
        (5, ("Walking Downstairs",), "walking_downstairs"),
        (6, ("Running Forward",), "running"),
        (7, ("Jumping Up",), "jumping"),
        (8, ("Sitting",), "sitting"),
        (9, ("Standing",), "standing"),
        (10, ("Sleeping",), "sleeping"),
        (11, ("Elevator Up",), "elevator_up"),
        (12, ("Elevator Down",), "elevator_down"),
    ],
    "hhar": [
        (None, ("bike", "biking"), "cycling"),
        (None, ("sit", "sitting"), "sitting"),
        (None, ("stand", "standing"), "standing"),
        (None, ("walk", "walking"), "walking"),
        (None, ("stairsup", "stair up", "stairs up"), "walking_upstairs"),
        (None, ("stairsdown", "stair down", "stairs down"), "walking_downstairs"),
        (None, ("null",), "null"),
    ],
    "mhealth": [
        (0, ("null",), "null"),
        (1, ("standing still", "standing"), "standing"),
        (2, ("sitting and relaxing", "sitting"), "sitting_relaxing"),
        (3, ("lying down", "lying"), "lying"),
        (4, ("walking",), "walking"),
        (5, ("climbing stairs",), "climbing_stairs"),
        (6, ("waist bends forward",), "waist_bends_forward"),
        (7, ("frontal elevation of arms",), "frontal_elevation_arms"),
        (8, ("knees bending (crouching)", "knees bending", "crouching"), "knees_bending"),
        (9, ("cycling",), "cycling"),
        (10, ("jogging",), "jogging"),
        (11, ("running",), "running"),
        (12, ("jump front & back", "jump front and back", "jump front back"), "jumping_front_back"),
    ],
    "wisdm11": [
        (None, ("Walking",), "walking"),
        (None, ("Jogging",), "jogging"),
        (None, ("Upstairs",), "walking_upstairs"),
        (None, ("Downstairs",), "walking_downstairs"),
        (None, ("Sitting",), "sitting"),
        (None, ("Standing",), "standing"),
    ],
    "wisdm19": [
        (None, ("A", "walking"), "walking"),
        (None, ("B", "jogging"), "jogging"),
        (None, ("C", "stairs"), "using_stairs"),
        (None, ("D", "sitting"), "sitting"),
        (None, ("E", "standing"), "standing"),
        (None, ("F", "typing"), "typing"),
        (None, ("G", "brushing teeth", "teeth"), "brushing_teeth"),
        (None, ("H", "eating soup", "soup"), "eating_soup"),
        (None, ("I", "eating chips", "chips"), "eating_chips"),
        (None, ("J", "eating pasta", "pasta"), "eating_pasta"),
        (None, ("K", "drinking from cup", "drinking", "drinking from a cup"), "drinking"),
        (None, ("L", "eating sandwich", "sandwich"), "eating_sandwich"),
        (None, ("M", "kicking", "kicking (soccer ball)", "kicking soccer ball"), "kicking_ball"),
        (None, ("O", "playing catch", "catch", "playing catch with tennis ball"), "playing_catch"),
        (None, ("P", "dribbling", "dribbling (basketball)", "dribbling basketball"), "dribbling_basketball"),
        (None, ("Q", "writing"), "writing"),
        (None, ("R", "clapping"), "clapping"),
        (None, ("S", "folding clothes", "folding"), "folding_clothes"),
    ],
    "unimib": [
        (1, ("StandingUpFS", "standing up from sitting"), "sit_to_stand"),
        (2, ("StandingUpFL", "standing up from laying", "standing up from lying"), "lie_to_stand"),
        (3, ("Walking",), "walking"),
        (4, ("Running",), "running"),
        (5, ("GoingUpS", "going upstairs", "upstairs"), "walking_upstairs"),
        (6, ("Jumping",), "jumping"),
        (7, ("GoingDownS", "going downstairs", "downstairs"), "walking_downstairs"),
        (8, ("LyingDownFS", "lying down from standing"), "stand_to_lie"),
        (9, ("SittingDown", "sitting down"), "stand_to_sit"),
        (10, ("FallingForw", "falling forward", "generic forward fall"), "falling_forward"),
        (11, ("FallingRight", "falling right"), "falling_right"),
        (12, ("FallingBack", "falling backward", "falling back"), "falling_backward"),
        (13, ("HittingObstacle", "hitting an obstacle in the fall"), "falling_hitting_obstacle"),
        (14, ("FallingWithPS", "falling with protection strategies"), "falling_with_protection"),
        (15, ("FallingBackSC", "backward fall ending sitting on a chair"), "falling_backward_sitting"),
        (16, ("Syncope",), "syncope"),
        (17, ("FallingLeft", "falling left"), "falling_left"),
    ],
    "kuhar": [
        (0, ("Stand", "0.Stand"), "standing"),
        (1, ("Sit", "1.Sit"), "sitting"),
        (2, ("Talk-sit", "2.Talk-sit"), "talking_sitting"),
        (3, ("Talk-stand", "3.Talk-stand"), "talking_standing"),
        (4, ("Stand-sit", "4.Stand-sit"), "sit_stand_repeated"),
        (5, ("Lay", "5.Lay"), "lying"),
        (6, ("Lay-stand", "6.Lay-stand"), "lie_stand_repeated"),
        (7, ("Pick", "7.Pick"), "picking_up"),
        (8, ("Jump", "8.Jump"), "jumping"),
        (9, ("Push-up", "9.Push-up"), "push_up"),
        (10, ("Sit-up", "10.Sit-up"), "sit_up"),
        (11, ("Walk", "11.Walk"), "walking"),
        (12, ("Walk-backward", "Walk-backwards", "12.Walk-backward"), "walking_backwards"),
        (13, ("Walk-circle", "13.Walk-circle"), "walking_circle"),
        (14, ("Run", "14.Run"), "running"),
        (15, ("Stair-up", "15.Stair-up"), "walking_upstairs"),
        (16, ("Stair-down", "16.Stair-down"), "walking_downstairs"),
        (17, ("Table-tennis", "17.Table-tennis"), "playing_table_tennis"),
    ],
    "recgym": [
        (None, ("Adductor",), "adductor_machine"),
        (None, ("ArmCurl",), "arm_curl"),
        (None, ("BenchPress",), "bench_press"),
        (None, ("LegCurl",), "leg_curl"),
        (None, ("LegPress",), "leg_press"),
        (None, ("Riding",), "cycling_stationary"),
        (None, ("RopeSkipping",), "rope_jumping"),
        (None, ("Running",), "running"),
        (None, ("Squat", "SquatConcrete", "SquatRubber", "SquatWood"), "squat"),
        (None, ("StairsClimber", "StairClimber"), "stair_climber"),
        (None, ("Walking",), "walking"),
        (None, ("Null", "rest"), "null"),
    ],
    "motionsense": [
        (None, ("dws", "downstairs", "walking downstairs"), "walking_downstairs"),
        (None, ("ups", "upstairs", "walking upstairs"), "walking_upstairs"),
        (None, ("wlk", "walking"), "walking"),
        (None, ("jog", "jogging"), "jogging"),
        (None, ("sit", "sitting"), "sitting"),
        (None, ("std", "standing"), "standing"),
    ],
    "realworld": [
        (None, ("climbingdown", "climbing down"), "walking_downstairs"),
        (None, ("climbingup", "climbing up"), "walking_upstairs"),
        (None, ("jumping",), "jumping"),
        (None, ("lying",), "lying"),
        (None, ("running",), "running"),
        (None, ("sitting",), "sitting"),
        (None, ("standing",), "standing"),
        (None, ("walking",), "walking"),
    ],
    "shoaib": [
        (None, ("walking",), "walking"),
        (None, ("standing",), "standing"),
        (None, ("jogging", "running"), "jogging"),
        (None, ("sitting",), "sitting"),
        (None, ("biking", "cycling"), "cycling"),
        (None, ("upstairs", "upsatirs"), "walking_upstairs"),
        (None, ("downstairs",), "walking_downstairs"),
    ],
    "opportunity": [
        (0, ("null",), "null"),
        (1, ("Stand",), "standing"),
        (2, ("Walk",), "walking"),
        (4, ("Sit",), "sitting"),
        (5, ("Lie",), "lying"),
        (101, ("Relaxing",), "relaxing"),
        (102, ("Coffee time",), "preparing_coffee"),
        (103, ("Early morning",), "morning_routine"),
        (104, ("Cleanup",), "cleaning_up"),
        (105, ("Sandwich time",), "preparing_sandwich"),
        (None, ("Open Door 1", "Open Door 2", "open door"), "open_door"),
        (None, ("Close Door 1", "Close Door 2", "close door"), "close_door"),
        (None, ("Open Fridge",), "open_fridge"),
        (None, ("Close Fridge",), "close_fridge"),
        (None, ("Open Dishwasher",), "open_dishwasher"),
        (None, ("Close Dishwasher",), "close_dishwasher"),
        (None, ("Open Drawer 1", "Open Drawer 2", "Open Drawer 3", "open drawer"), "open_drawer"),
        (None, ("Close Drawer 1", "Close Drawer 2", "Close Drawer 3", "close drawer"), "close_drawer"),
        (None, ("Clean Table",), "clean_table"),
        (None, ("Drink from Cup",), "drinking"),
        (None, ("Toggle Switch",), "toggle_switch"),
    ],
    "daphnet": [
        (0, ("not part of the experiment", "not in experiment", "outside experiment", "null"), "null"),
        (1, ("no freeze", "experiment, no freeze", "experiment no freeze", "walking", "experiment"),
         "gait_without_freeze"),
        (2, ("freeze", "freezing", "freezing of gait"), "freezing_of_gait"),
    ],
    "harth": [
        (1, ("walking",), "walking"),
        (2, ("running",), "running"),
        (3, ("shuffling", "shuffling (standing with leg movement)"), "shuffling"),
        (4, ("stairs (ascending)", "stairs ascending", "ascending stairs"), "walking_upstairs"),
        (5, ("stairs (descending)", "stairs descending", "descending stairs"), "walking_downstairs"),
        (6, ("standing",), "standing"),
        (7, ("sitting",), "sitting"),
        (8, ("lying",), "lying"),
        (13, ("cycling (sit)", "cycling sit", "cycling sitting"), "cycling_sitting"),
        (14, ("cycling (stand)", "cycling stand", "cycling standing"), "cycling_standing"),
        (130, ("cycling (sit, inactive)", "cycling sit inactive"), "cycling_sitting_inactive"),
        (140, ("cycling (stand, inactive)", "cycling stand inactive"), "cycling_standing_inactive"),
        (None, ("transport (sit)", "transport sit"), "sitting"),
        (None, ("transport (stand)", "transport stand"), "standing"),
    ],
    "capture24": [
        # the label schemes of annotation-label-dictionary.csv (a converter keeps one of them)
        (None, ("sleep", "sleeping"), "sleeping"),
        (None, ("sitting",), "sitting"),
        (None, ("standing",), "standing"),
        (None, ("sit-stand", "sitstand"), "sitting_or_standing"),
        (None, ("walking",), "walking"),
        (None, ("bicycling", "cycling"), "cycling"),
        (None, ("vehicle",), "vehicle"),
        (None, ("household-chores", "household chores"), "household_chores"),
        (None, ("manual-work", "manual work"), "manual_work"),
        (None, ("mixed-activity", "mixed activity", "mixed"), "mixed_activity"),
        (None, ("sports", "sport"), "sports"),
        (None, ("sedentary", "sedentary-screen", "sedentary-non-screen"), "sedentary"),
        (None, ("light", "tasks-light", "light activity"), "light_activity"),
        (None, ("moderate-vigorous", "moderate", "tasks-moderate", "moderate-vigorous activity"),
         "moderate_activity"),
    ],
    "mobiact": [
        (None, ("STD", "standing"), "standing"),
        (None, ("WAL", "walking"), "walking"),
        (None, ("JOG", "jogging"), "jogging"),
        (None, ("JUM", "jumping"), "jumping"),
        (None, ("STU", "stairs up"), "walking_upstairs"),
        (None, ("STN", "stairs down"), "walking_downstairs"),
        (None, ("SCH", "stand to sit", "sit chair"), "stand_to_sit"),
        (None, ("SIT", "sitting on chair", "sitting"), "sitting"),
        (None, ("CHU", "sit to stand", "chair up"), "sit_to_stand"),
        (None, ("CSI", "car step in", "car step-in"), "car_step_in"),
        (None, ("CSO", "car step out", "car step-out"), "car_step_out"),
        (None, ("LYI", "lying"), "lying"),
        (None, ("FOL", "forward-lying", "forward lying"), "falling_forward"),
        (None, ("FKL", "front-knees-lying", "front knees lying"), "falling_forward_knees"),
        (None, ("BSC", "back-sitting-chair", "back sitting chair"), "falling_backward_sitting"),
        (None, ("SDL", "sideward-lying", "sideward lying"), "falling_sideways"),
    ],
}


#: Free-text labels (CAPTURE-24 annotations: ``;``-separated hierarchy, a Compendium of Physical
#: Activities code and description, ``MET x``) are mapped by ordered rules on their fields: the
#: field with a Compendium code first, then the others from the first; the first field that a rule
#: matches decides, and ``_FALLBACK`` takes the rest.
_RULES: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "capture24": [(re.compile(p), c) for p, c in [
        (r"sleep", "sleeping"),
        (r"bicycling|\bcycling", "cycling"),
        (r"descending stairs|downstairs", "walking_downstairs"),
        (r"upstairs", "walking_upstairs"),
        (r"driving", "driving"),
        (r"^vehicle$|riding in a (car|bus)|private transportation|public transportation", "vehicle"),
        (r"^(\d+ )?(\(generic\) )?running", "running"),
        (r"^sports|gymnasium|athletics", "sports"),
        (r"hiking", "walking"),
        (r"ironing", "ironing"),
        (r"folding or hanging clothes", "folding_clothes"),
        (r"self care|toilet|dressing|hairstyling|grooming|getting ready for bed", "self_care"),
        (r"shopping|buying", "mixed_activity"),
        (r"^(\d+ )?eating", "eating"),
        (r"manual-work|manual labour|manual or unskilled|lifting items|shoveling|carrying heavy|loading", "manual_work"),
        (r"household-chores|household chores|household tasks|(?<!non-)cleaning|kitchen activity|making bed|"
         r"sweeping|scrubbing|dusting|packing/unpa|serving food", "household_chores"),
        (r"^mixed-activity", "mixed_activity"),
        (r"office w|computer work|(?<!non-)desk work|writing and typing|office writing", "computer_work"),
        (r"^(\d+ )?(\(generic\) )?lying", "lying"),
        (r"watching television", "watching_tv"),
        (r"^(\d+ )?(\(generic\) )?walking", "walking"),
        (r"^(\d+ )?(\(generic\) )?standing", "standing"),
        (r"^(\d+ )?(\(generic\) )?sitting", "sitting"),
        (r"\bwalking\b", "walking"),
        (r"\bstanding\b", "standing"),
        (r"\bsitting\b|\blying\b|screen", "sitting"),
    ]],
}
_FALLBACK = {"capture24": "mixed_activity"}


def _match_rules(key: str, label: str) -> Canonical | None:
    rules = _RULES.get(key)
    if not rules:
        return None
    fields = [f.strip().lower() for f in label.split(";")]
    fields = [f for f in fields if f and not f.startswith("met ")]
    coded = [f for f in fields if re.match(r"^\d+ ", f)]
    for f in coded + [f for f in fields if f not in coded]:
        for pat, canon in rules:
            if pat.search(f):
                return _CANONICAL[canon]
    return _CANONICAL[_FALLBACK[key]] if key in _FALLBACK else None


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", s.lower())


def _check_table() -> None:
    for ds, rows in DATASET_LABELS.items():
        ids = [r[0] for r in rows if r[0] is not None]
        if len(ids) != len(set(ids)):
            raise RuntimeError(f"vocabulary: duplicate label id in {ds}")
        for _, _, name in rows:
            if name not in _CANONICAL:
                raise RuntimeError(f"vocabulary: {ds} maps to unknown canonical label {name!r}")


_check_table()


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------
def _spec_card(dataset_id: str):
    """The registered card of a dataset, or None when no converter module defines it."""
    from . import registry
    from .errors import DatasetNotFound

    try:
        return registry.get(dataset_id).card
    except DatasetNotFound:
        return None


def _dataset_key(dataset_id: str) -> str:
    card = _spec_card(dataset_id)
    key = card.id if card is not None else dataset_id.lower().replace("-", "").replace("_", "")
    if key not in DATASET_LABELS:
        import difflib

        close = difflib.get_close_matches(key, list(DATASET_LABELS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownLabel(f"the label vocabulary has no table for dataset {dataset_id!r}{hint}; known: "
                           f"{', '.join(sorted(DATASET_LABELS))} (add its rows to imudata/vocabulary.py)")
    return key


def _match_name(key: str, *candidates: str) -> Canonical | None:
    for cand in candidates:
        if not cand:
            continue
        n = _norm(cand)
        for _, names, canon in DATASET_LABELS[key]:
            if any(_norm(x) == n for x in names):
                return _CANONICAL[canon]
    return None


def _match_id(key: str, label_id: int) -> Canonical | None:
    for rid, _, canon in DATASET_LABELS[key]:
        if rid == label_id:
            return _CANONICAL[canon]
    return None


def canonical(dataset_id: str, label: int | str) -> Canonical:
    """The canonical label of one dataset label, given by its stored id or by its name.

    An int is looked up in the registered card of the dataset (its name, then text, is matched
    against the table); a string is matched as a label name or text. Raises :class:`UnknownLabel`
    naming the dataset and the label when there is no mapping.
    """
    key = _dataset_key(dataset_id)
    card = _spec_card(key)
    if isinstance(label, bool) or not isinstance(label, (int, str)):
        raise UnknownLabel(f"{key}: a label is an int id or a str name, got {label!r}")
    if isinstance(label, str):
        found = _match_name(key, label)
        if found is None and card is not None:
            for lab in card.labels:
                if label in (lab.name, lab.text):
                    found = _match_name(key, lab.name, lab.text) or _match_id(key, lab.id)
                    break
        if found is None:
            found = _match_rules(key, label)
        if found is None and label.strip().lstrip("-").isdigit():
            return canonical(dataset_id, int(label))
        if found is None:
            raise UnknownLabel(f"{key}: label {label!r} has no canonical label in imudata/vocabulary.py")
        return found
    if card is not None:
        labs = card.label_map()
        if label not in labs:
            raise UnknownLabel(f"{key}: label id {label} is not in the dataset's label list "
                               f"(ids: {sorted(labs)})")
        lab = labs[label]
        found = _match_name(key, lab.name, lab.text) or _match_id(key, label) or _match_rules(key, lab.name)
        if found is None:
            raise UnknownLabel(f"{key}: label {label} ({lab.name!r}) has no canonical label in "
                               f"imudata/vocabulary.py")
        return found
    found = _match_id(key, label)
    if found is None:
        raise UnknownLabel(f"{key}: label id {label} has no canonical label (the dataset's converter is not "
                           f"registered, and the vocabulary table lists no such id)")
    return found


def table(dataset_id: str) -> list[LabelMapping]:
    """Every label of a dataset with its canonical label, in the dataset's label order.

    For a registered dataset the labels come from its card (every card label must map, or
    :class:`UnknownLabel` lists the ones that do not); otherwise from the vocabulary's own rows.
    """
    key = _dataset_key(dataset_id)
    card = _spec_card(key)
    out: list[LabelMapping] = []
    if card is not None:
        missing = []
        for lab in card.labels:
            try:
                out.append(LabelMapping(key, lab.id, lab.name, lab.text, canonical(key, lab.id)))
            except UnknownLabel:
                missing.append(f"{lab.id} {lab.name!r}")
        if missing:
            raise UnknownLabel(f"{key}: labels without a canonical label in imudata/vocabulary.py: "
                               f"{', '.join(missing)}")
        return out
    for rid, names, canon in DATASET_LABELS[key]:
        c = _CANONICAL[canon]
        out.append(LabelMapping(key, rid, names[0], c.text, c))
    return out


def mapping(dataset_id: str) -> dict[int, Canonical]:
    """Dataset label id -> canonical label, for every label of the dataset.

    Needs the dataset's ids: those of its registered card, or, for an unregistered dataset, the
    ids the original release defines. Raises :class:`UnknownLabel` otherwise.
    """
    rows = table(dataset_id)
    if all(r.id is None for r in rows):
        raise UnknownLabel(f"{rows[0].dataset}: its label ids are chosen by its converter, which is not "
                           f"registered; use canonical({rows[0].dataset!r}, name) instead")
    return {int(r.id): r.canonical for r in rows if r.id is not None}


def vocabulary(datasets: Iterable[str] | None = None, *, activities_only: bool = True) -> list[Canonical]:
    """Canonical labels, in table order.

    ``datasets`` restricts the list to the labels those datasets use (e.g. the pretraining sets of
    a manifest: the candidate set for open-set zero-shot scoring). ``activities_only`` (default)
    leaves out labels flagged ``activity=False`` (affective states and the null class).
    """
    if datasets is None:
        items = list(_CANONICAL.values())
    else:
        used: set[str] = set()
        for ds in datasets:
            used.update(r.canonical.name for r in table(ds))
        items = [c for c in _CANONICAL.values() if c.name in used]
    return [c for c in items if c.activity or not activities_only]


def groups(datasets: Iterable[str] | None = None, *, activities_only: bool = True) -> dict[str, list[Canonical]]:
    """Group name -> its canonical labels (same filters as :func:`vocabulary`), groups in table order."""
    out: dict[str, list[Canonical]] = {}
    for c in vocabulary(datasets, activities_only=activities_only):
        out.setdefault(c.group, []).append(c)
    return out


def get(name: str) -> Canonical:
    """A canonical label by its name."""
    try:
        return _CANONICAL[name]
    except KeyError:
        raise UnknownLabel(f"no canonical label named {name!r}") from None


def lookup(text: str) -> Canonical:
    """The canonical label whose name, text or a synonym equals ``text`` (case/punctuation-insensitive).

    A text shared by several labels resolves to the one whose own name or text it is, else the first.
    """
    n = _norm(text)
    for c in _CANONICAL.values():
        if n in (_norm(c.name), _norm(c.text)):
            return c
    for c in _CANONICAL.values():
        if any(_norm(s) == n for s in c.synonyms):
            return c
    raise UnknownLabel(f"no canonical label has the name, text or synonym {text!r}")


def same_group(a: str | Canonical, b: str | Canonical) -> bool:
    """Whether two canonical labels (names or objects) are in the same group (open-set scoring)."""
    ca = a if isinstance(a, Canonical) else get(a)
    cb = b if isinstance(b, Canonical) else get(b)
    return ca.group == cb.group


def datasets() -> list[str]:
    """Dataset ids the vocabulary has a table for."""
    return sorted(DATASET_LABELS)
