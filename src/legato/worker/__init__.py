"""Claims runnable workflows under a lease, runs them, fires timers, recovers dead workers."""
