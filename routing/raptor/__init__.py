"""RAPTOR (Delling, Pajor, Werneck 2012) over the TransitModel arrays, compiled with numba (nogil, cached).

A search works on three typed records of arrays (`state`: Timetable, Rules, Labels), and each round of a run is
the paper's phases, named as there (`rounds`: scan_routes, follow_inseat_links, relax_footpaths). One module a job,
each importing only those listed before it:
  state         – the records, the constants the kernels share, the labels' housekeeping
  bounds        – lower bounds for target pruning (`StopGraph`, `lower_bounds`, `fewest_rides`)
  rounds        – one RAPTOR run, round by round (`raptor_run`)
  journeys      – the journeys of a run read back out of the labels (`Output` rows)
  profile       – range RAPTOR over a departure window, latest first (`range_search`), and `late_bounds`
  arrays        – the search's Timetable from the model, forward or time-reversed (arrive-by)
  query         – what a search is asked and answers (`RaptorQuery`, `RaptorResult`, `Journey`)
  pools         – the labels, buffers and bounds a thread's searches reuse
  search        – the Python side: `run_raptor`, `range_raptor` (forward and backward)
  kernel_cache  – numba's cache of a kernel follows the modules it imports
Other packages import the names below from here; code of this package imports each from its module.

Reference counting: a numba function increfs every array of the records it is given on entry and decrefs them on
return (atomic operations: ~180 for Timetable, Rules and Labels), and a search makes about a hundred such calls
(phases per round, a run's emit). The functions that allocate nothing are compiled with ``_nrt=False``: no
reference counting at all, safe because their caller holds the records for the whole call and nothing they
make outlives it. Of a Toei plan this was half the kernel's time. A function that must allocate (a grown buffer,
a schedule) keeps NRT; one marked ``_nrt=False`` that allocates fails to compile, it does not misbehave.

numba caches each kernel module's code apart (``cache=True``): an edit to the Python side compiles nothing, an edit
to a kernel module compiles its kernels and those of the modules importing it (`kernel_cache`).
"""
from pathlib import Path

from routing.raptor.kernel_cache import follow_imports

follow_imports(__name__, Path(__file__).parent)  # before any kernel is defined: numba stamps its cache then

from routing.raptor.arrays import (Reversal, reverse_mask, reversed_timetable, share_equal_fields,  # noqa: E402
                                   share_timetables, timetable_of)
from routing.raptor.pools import drop_thread_buffers  # noqa: E402
from routing.raptor.query import Counters, Journey, RaptorQuery, RaptorResult, RideLeg, WalkLeg  # noqa: E402
from routing.raptor.search import earliest, range_raptor, run_raptor, warm_late_bounds  # noqa: E402
from routing.raptor.state import INF, Timetable  # noqa: E402

__all__ = ["INF", "Counters", "Journey", "RaptorQuery", "RaptorResult", "Reversal", "RideLeg", "Timetable", "WalkLeg",
           "drop_thread_buffers", "earliest", "range_raptor", "reverse_mask", "reversed_timetable", "run_raptor",
           "share_equal_fields", "share_timetables", "timetable_of", "warm_late_bounds"]
