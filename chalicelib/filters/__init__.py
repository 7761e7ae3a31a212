"""Recommendation filters (today's API: CreateFilter, filterArn / filterValues on
GetRecommendations and GetPersonalizedRanking, promotions): the filter expression language.

Where it sits: below `service` and `runtime`, beside `algorithms`. `language` (tokenizer,
recursive-descent parser, the documented rules and limits) imports the standard library only;
`evaluate` (bound values -> allowed rows) adds numpy. Neither imports the AWS SDK, storage or any
other chalicelib layer: the runtime hands the evaluator plain arrays (item metadata columns,
a user's interactions by event type, the current user's and item's fields) and the service
turns `FilterError` into InvalidInputException.
"""
