"""Training a solution version: the SageMaker-compatible trainer and its mechanisms.

Seed: "Creating a Solution" (recipes, AutoML, HPO, "Overriding Default Recipe Parameters",
feature transformation), "Evaluating Solutions", "Bring Your Own Recipe" step 1 (an algorithm is
a SageMaker-compatible container), "Limits" (minimum training data).

- `contract`  the /opt/ml folder of the SageMaker training contract and our hyperparameter keys;
- `channel`   TrainingData <-> the files of the `train` data channel (npz, no pickles);
- `transform` the feature transformation (history-length percentile filtering, split ratio);
- `selection` AutoML (pick a recipe by a metric) and HPO (random search within a budget), both
              on a validation split of the training users;
- `entry`     the entry point: read the contract's inputs, select, evaluate, refit, write
              `/opt/ml/model` or `/opt/ml/output/failure` (what `training_container/train` runs);
- `artifacts` the model archive (model.tar.gz) both backends produce, and reading it back;
- `lambda_trainer` the emulators' trainer Lambda: S3 <-> an /opt/ml-shaped folder under /tmp
              around the same entry point.

Only `artifacts` (download helpers) and `lambda_trainer` use boto3 (through
`chalicelib.storage.objects`); the rest runs in the SageMaker container with numpy/scipy only.
"""
