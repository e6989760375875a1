// Command chaos runs chaos tests against distributed systems and judges
// their histories: the command line of package cli over every built-in
// target, workload and nemesis.
package main

import (
	"os"

	"github.com/chaostest/chaos/catalog"
	"github.com/chaostest/chaos/cli"
)

func main() {
	os.Exit(cli.Main(catalog.New()))
}
