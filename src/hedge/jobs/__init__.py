"""Job kinds: what the owner asks the cloud to run on ciphertexts, one module per kind.

Each kind is a `JobSpec` subclass (`hedge.jobs.base`): its spec's fields, its checks when the
cloud receives it (`admit`, `check_uploads`), how a worker runs it (`computation`) and the
container kind of its result. `hedge.jobs.registry` names them; the cloud's API derives its
tagged union of job bodies from it. A new kind is a new module here plus its line in the
registry (docs/architecture.md).
"""

from hedge.jobs.base import JobRun, JobSpec
from hedge.jobs.evaluate import EvaluateSpec
from hedge.jobs.prepare import PrepareSpec
from hedge.jobs.registry import job_body, kind_of, kinds, parse_spec, register
from hedge.jobs.train import KeyServiceRef, TrainSpec, train

__all__ = ["EvaluateSpec", "JobRun", "JobSpec", "KeyServiceRef", "PrepareSpec", "TrainSpec",
           "job_body", "kind_of", "kinds", "parse_spec", "register", "train"]
