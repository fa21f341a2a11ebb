"""Load: wait for an hour (sensors), list its committed part files and COPY exactly those in one transaction (ingest),
keep or count the rows the warehouse rejected (rejects), refresh the external table's hour (refresh).
"""
