"""The runtime behind GetRecommendations, PersonalizeRanking and PutEvents' effect on them.

Seed: "Getting Recommendations", "Recording Events". A campaign serves one solution version;
its model is loaded from S3 once per container and kept in memory:

- `artifacts`  the model files at a solution version's `modelKey` (a model.tar.gz, or a folder
               with model.json + arrays.npz) -> `chalicelib.algorithms.base.Model`;
- `histories`  the imported interactions of the dataset group, indexed per user in the model's
               item space (a user's History at inference), and Items metadata for searchQuery;
- `cache`      a bounded LRU of loaded models keyed by solution version ARN;
- `serving`    a loaded model with its histories: recommend / related items / rank, vectorised;
- `recorded`   events recorded with PutEvents as interactions (session rule, training export).
"""
