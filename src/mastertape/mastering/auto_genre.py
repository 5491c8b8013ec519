"""`genre: "auto"`: the profile chosen from the analysis, with the reason in words.

The choice rests on what a mix's balance cannot fake: its dynamics. A bad EQ makes a pop mix look like a
warm or a bright one, so tonal balance is what the chosen profile corrects, not what chooses it. The
spread of the sampled segments' loudness (`analysis.segment_loudness_spread_lu`, read on 0.37 s segments,
so higher than the EBU LRA of the same music) separates material mastered for dynamics (orchestral,
acoustic, ambient, film: LRA typically 8-20 LU) from dense modern productions (LRA typically 3-7 LU).
Published figures agree on that split: the PhaseLimiter project's analysis of 568 commercial tracks
(github.com/ai-mastering/phaselimiter, resource/analysis_data) and E. Skovenborg, "Loudness range (LRA)
- design and evaluation", AES 132nd Convention, 2012 (pop/rock LRA mostly under 8 LU, classical 10-20 LU).

The rules are a table: the first whose range holds the measured spread wins.
"""

from __future__ import annotations

from mastertape.mastering.analysis import SegmentSpectra, segment_loudness_spread_lu

#: (profile, lowest segment spread in LU, what such material is), checked in order.
AUTO_RULES: tuple[tuple[str, float, str], ...] = (
    ("dynamic", 16.0, "wide dynamics, as in orchestral, acoustic or ambient music"),
    ("modern", 0.0, "dense, steady dynamics, as in current pop, rock and electronic music"),
)


def choose_genre(spectra: SegmentSpectra) -> tuple[str, str]:
    """(profile name, reason) for `genre: "auto"` (module doc)."""
    spread = segment_loudness_spread_lu(spectra)
    for name, lowest, what in AUTO_RULES:
        if spread >= lowest:
            return name, f"auto: loudness spread {spread:.1f} LU over 0.4 s segments, {what} -> {name}"
    name, _, what = AUTO_RULES[-1]
    return name, f"auto: {what} -> {name}"
