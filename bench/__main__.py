"""`make bench`: every benchmark, one after the other, each printing its figures."""

from bench import client_throughput, collection_throughput, simulator_throughput

simulator_throughput.main()
client_throughput.main()
collection_throughput.main()
