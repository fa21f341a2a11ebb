"""Model: one dbt build over every changed hour not yet modeled (modeling, dbt_tasks) and the Cosmos project
(dbt_project).
"""
