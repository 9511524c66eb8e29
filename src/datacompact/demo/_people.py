"""The demo city's synthetic residents, shared by every dataset that names people.

One population is drawn per build, and the departments' datasets pick their
people from it, so a resident ID in the clinic visits can be joined to the
same person's social-insurance rows. That is the cross-department linkage
the platform exists to govern. Each person's ID is unique, its birth date and
sex agree with the person's other attributes, and all numbers are synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from . import _synth as synth
from ._city import DISTRICTS

REFERENCE_DAY = np.datetime64("2024-12-31", "D")
# Share of residents by age (0-99), a smoothed urban pyramid.
_AGES = np.arange(100)
_AGE_WEIGHTS = np.interp(
    _AGES, [0, 15, 25, 35, 50, 60, 70, 80, 90, 99], [6, 8, 13, 14, 13, 11, 8, 4, 1, 0.2]
)


@dataclass(frozen=True)
class Built:
    """A generated table with the facts that tests check against the file."""

    table: pa.Table
    persons: int  # distinct natural persons the table describes
    defects: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Population:
    resident_id: pa.Array
    name: pa.Array
    sex: synth.Ints  # GB/T 2261.1: 1 male, 2 female
    birth: synth.Days
    mobile: pa.Array
    district: synth.Ints  # GB/T 2260 code of the district of residence
    address: pa.Array

    def __len__(self) -> int:
        return len(self.sex)

    def ages(self, on: synth.Days, who: synth.Ints | None = None) -> synth.Ints:
        """Completed years of age of residents ``who`` (default: everyone) on the days ``on``."""
        by, bm, bd = synth.ymd(self.birth if who is None else self.birth[who])
        oy, om, od = synth.ymd(on)
        return oy - by - ((om * 100 + od) < (bm * 100 + bd)).astype(np.int64)

    def adults(self, on: str = "2024-01-01", *, low: int = 18, high: int = 200) -> synth.Ints:
        """Indices of residents whose age on ``on`` lies in [low, high]."""
        age = self.ages(np.full(len(self), np.datetime64(on, "D")))
        return np.flatnonzero((age >= low) & (age <= high))


def build_population(rng: np.random.Generator, n: int) -> Population:
    age = rng.choice(_AGES, size=n, p=_AGE_WEIGHTS / _AGE_WEIGHTS.sum())
    birth = REFERENCE_DAY - (age * 365 + rng.integers(0, 365, size=n)).astype("timedelta64[D]")
    sex = rng.integers(1, 3, size=n)
    region = synth.birth_places(rng, birth)
    sequence = _unique_sequences(rng, region, birth, sex)
    district = np.array(DISTRICTS, dtype=np.int64)[
        rng.choice(len(DISTRICTS), size=n, p=np.array([9, 11, 12, 7, 13, 14, 6, 5]) / 77)
    ]
    return Population(
        resident_id=synth.resident_ids(region, birth, sequence),
        name=synth.person_names(rng, n),
        sex=sex,
        birth=birth,
        mobile=synth.mobiles(rng, n),
        district=district,
        address=synth.addresses(rng, synth.fixed(district, 6), kind="home"),
    )


def _unique_sequences(
    rng: np.random.Generator, region: synth.Ints, birth: synth.Days, sex: synth.Ints
) -> synth.Ints:
    """Three-digit order codes, odd for men and even for women, unique per region and day."""
    n = len(sex)
    day = birth.astype(np.int64)
    sequence: synth.Ints = rng.integers(0, 500, size=n) * 2 + (sex == 1)
    while True:
        key = (region * 100_000 + day) * 1000 + sequence
        _, first = np.unique(key, return_index=True)
        repeat = np.ones(n, dtype=bool)
        repeat[first] = False
        if not repeat.any():
            return sequence
        sequence[repeat] = rng.integers(0, 500, size=int(repeat.sum())) * 2 + (sex[repeat] == 1)
