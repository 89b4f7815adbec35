"""Workforce segmentation: federated k-means with encrypted aggregation, one module per party
(`site`, `cloud`, `owner`; what they agree on: `protocol`; the loop: `run`; the result file:
`segments`; encrypted assignment of new rows: `assign`).

Every exchange is driven by a message the owner signs (Ed25519) and the sites verify:
{run, round, scale, fingerprint, centroids}. `run` is a random id per run (each restart is a
run), `round` 0 asks for statistics, rounds 1, 2, ... carry the current centroids. A site answers
only messages that are newer than any it has answered (a replayed or reordered message is
refused), and echoes the message's digest in its upload; the cloud counts only uploads that
answer the message of this round.

One round r (Lloyd's iteration), on features scaled by the schema into [-1, 1]:

1. the owner signs the current centroids (`SegmentOwner.request`);
2. each site verifies them, assigns its own rows to the nearest centroid, and uploads one
   ciphertext under the consortium bundle (`SegmentSite.respond`): per cluster [count, feature
   sums, sum of squared distances / 4d] (each at most the site's row count), then the number of
   its rows whose segment changed since the previous round; all times the public power of two
   `scale` (`value_scale`: the totals fill the preset's capacity, so the release's flooding
   noise stays negligible); in clear: its row count and the message digest;
3. the cloud checks each upload and adds the accepted ones (`aggregate`); a malformed upload is
   rejected and that site counts as absent this round;
4. the owner release-decrypts the pooled totals only (flooded, audited), refusing when fewer
   than `min_sites` sites are in them or when the counts do not add up to their rows, and
   computes the next centroids = sums / counts (`SegmentOwner.update`).

Initialisation (`SegmentOwner.initial_centroids`) reveals no individual record: round 0 pools
[n, sums, sums of squares]; the owner releases mean and standard deviation and draws k seeded
points from N(mean, diag(std^2)). Empty clusters, and clusters with fewer than
`min_cluster_size` rows, keep their previous centroid. The cloud is assumed honest-but-curious:
the release's security argument covers honestly added ciphertexts (docs/security.md). Depth:
none (additions only). Leakage: docs/segmentation.md.
"""

from hedge.segmentation.cloud import Pooled, aggregate
from hedge.segmentation.owner import SegmentOwner
from hedge.segmentation.protocol import (
    CONTRIBUTION_FILE,
    message_digest,
    nearest,
    segmentation_keys,
    value_scale,
)
from hedge.segmentation.site import SegmentSite

__all__ = ["CONTRIBUTION_FILE", "Pooled", "SegmentOwner", "SegmentSite", "aggregate",
           "message_digest", "nearest", "segmentation_keys", "value_scale"]
