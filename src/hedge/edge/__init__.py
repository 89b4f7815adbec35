"""hedge.edge — the factory-side agent: connectors, durable buffer, encrypted uploads, model
activation and local inference. Holds only public material and its own data."""

from hedge.edge.agent import EdgeAgent, StepReport
from hedge.edge.buffer import Buffer
from hedge.edge.config import EdgeConfig
from hedge.edge.connectors import Connector, FolderConnector
from hedge.edge.models import ModelStore

__all__ = ["Buffer", "Connector", "EdgeAgent", "EdgeConfig", "FolderConnector", "ModelStore",
           "StepReport"]
