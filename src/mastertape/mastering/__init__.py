"""The mastering chain: `master(audio, settings)` -> (mastered audio, report), genre profiles as data."""

from mastertape.mastering.chain import STAGES, master
from mastertape.mastering.profiles import GENRES, Profile, get_profile
from mastertape.mastering.report import BandDynamics, EqMove, MasteringReport
from mastertape.mastering.settings import MasteringSettings

__all__ = [
    "GENRES",
    "STAGES",
    "BandDynamics",
    "EqMove",
    "MasteringReport",
    "MasteringSettings",
    "Profile",
    "get_profile",
    "master",
]
