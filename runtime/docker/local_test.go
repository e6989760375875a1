package docker_test

import (
	"github.com/chaostest/chaos/core"
	"github.com/chaostest/chaos/runtime/local"
)

func localRuntime() (core.Runtime, error) { return local.New() }
