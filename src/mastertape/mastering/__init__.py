"""The mastering chain: `master(audio, settings, reference=None)` -> (mastered audio, report), genre
profiles as data, reference analysis (`analyze_reference`)."""

from mastertape.mastering.chain import STAGES, master
from mastertape.mastering.profiles import GENRES, Profile, get_profile
from mastertape.mastering.reference import Reference, analyze_reference
from mastertape.mastering.report import BandDynamics, MasteringReport, ReferenceReport
from mastertape.mastering.settings import AUTO_GENRE, MasteringSettings, ReferenceMatch

__all__ = [
    "AUTO_GENRE",
    "GENRES",
    "STAGES",
    "BandDynamics",
    "MasteringReport",
    "MasteringSettings",
    "Profile",
    "Reference",
    "ReferenceMatch",
    "ReferenceReport",
    "analyze_reference",
    "get_profile",
    "master",
]
