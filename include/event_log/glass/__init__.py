"""The pane of glass: the pipeline's assets and lineage (assets, external_assets), asset events from outside
(asset_events), the per-hour states of the page (hour_states).
"""
