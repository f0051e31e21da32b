"""The Binance spot venue: ``BinanceBroker`` (venue ``binance``) and ``BinanceDataProvider``.

Modules: ``config`` (settings and safety checks), ``http`` (signing, server
time, request weight, retries), ``errors`` (Binance codes -> our error tree),
``parsing`` (status/type tables, filters, records), ``broker``, ``data``.
Importing this package imports neither; ``get_broker("binance")`` does.
"""
