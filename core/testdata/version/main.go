// Command version prints core.BuildVersions, for the test that sets the
// link-time version the README documents.
package main

import (
	"fmt"

	"github.com/chaostest/chaos/core"
)

func main() { fmt.Println(core.BuildVersions()) }
