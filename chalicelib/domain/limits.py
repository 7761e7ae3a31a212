"""Service limits (seed: "Limits in Amazon Personalize")."""

MAX_DATASET_BYTES = 100 * 1024 ** 3          # "Maximum amount of data for an individual dataset: 100 GB"
MIN_SCHEDULE_MINUTES = 30                    # "Minimum increment for a cron schedule: 30 minutes"
MIN_TRAINING_INTERACTIONS = 1000             # "Minimum number of data points required for training"
MAX_TRAINING_ITEMS = 1_000_000               # "Maximum number of items ... considered by a model"
MAX_TRAINING_HISTORY_POINTS = 500_000_000    # "Maximum number of points in history ..."
