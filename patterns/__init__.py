"""Log message templates mined on the stream (Drain-style), with stable pattern ids (pure).

``masking`` turns a message into tokens with typed slots, ``drain`` keeps the clusters of one
service, ``miner`` ties them together with bounds, bad-input handling and JSON state.
"""
