"""The alerting core (pure): rules, evaluation over window results, the state machine, anomaly."""
