"""Reading a ``/metrics`` page back, for tests of what Wess exports.

``Scrape`` parses the Prometheus text format with prometheus_client's own parser and
answers the questions tests ask: which families are there, what one sample is worth,
and how many series the page holds (the measure of label cardinality).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

SERIES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}
"""The series names of a family, by its type (a gauge's is its own name)."""


class Scrape:
    """One ``/metrics`` page, parsed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {family.name: family for family in text_string_to_metric_families(text)}

    @property
    def series(self) -> int:
        """How many samples (series) the page holds."""
        return sum(len(family.samples) for family in self.families.values())

    def names(self) -> set[str]:
        """Every series name a PromQL query may select on this page: the samples', and
        for a family without samples (a labelled metric no one used yet) the names its
        type gives it (a counter's ``_total``, a histogram's ``_bucket``, ``_sum`` and
        ``_count``). Never a bare counter or histogram family name: it selects nothing."""
        found: set[str] = set()
        for family in self.families.values():
            found.update(sample.name for sample in family.samples)
            found.update(f"{family.name}{suffix}" for suffix in SERIES.get(family.type, ("",)))
        return found

    def samples(self, name: str) -> Iterator[Sample]:
        """The samples called ``name`` (a family's, or one of its suffixed series)."""
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == name:
                    yield sample

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the sample ``name`` with exactly these labels (``le`` aside)."""
        for sample in self.samples(name):
            if sample.labels == labels:
                return sample.value
        return None

    def label_names(self, family: str) -> set[str]:
        """The label names the samples of ``family`` carry (``le`` and ``quantile`` aside)."""
        names: set[str] = set()
        for sample in self.families[family].samples:
            names.update(sample.labels)
        return names - {"le", "quantile"}
