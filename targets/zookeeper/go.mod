module github.com/chaostest/chaos/targets/zookeeper

go 1.26.8

require github.com/chaostest/chaos v0.0.0-00010101000000-000000000000

require github.com/go-zookeeper/zk v1.0.4

require github.com/anishathalye/porcupine v1.3.1 // indirect

replace github.com/chaostest/chaos => ../..
