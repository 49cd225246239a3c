"""`make bench`: every benchmark, one after the other, each printing its figures."""

from bench import simulator_throughput

simulator_throughput.main()
