"""The whole loop rehearsed on one machine (``medtx pipeline``): the flows run through Metaflow's
Runner with the triggers Argo would pass, and synthetic traffic reaches the monitored endpoint."""
