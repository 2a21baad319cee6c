// Command tokens prints well-formed credential secrets that are stored
// nowhere, one a line, for the benchmark harness's flood of unknown tokens:
// each has the right prefix, length and checksum, so keygate cannot refuse it
// from its shape and must look it up (in its negative cache, then the store).
//
//	tokens -n 200000 > tokens.txt                # Bearer key tokens (kgl_...)
//	tokens -n 1000 -kind access_token            # Bearer access tokens (kga_...)
//
// The secrets come from authz.NewToken, so they follow keygate's token format
// exactly; they are random (crypto/rand), so no two runs print the same list.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"

	"github.com/keygate/keygate/authz"
)

// maxTokens bounds -n: 10 million tokens are about 540 MB of output.
const maxTokens = 10_000_000

func main() {
	n := flag.Int("n", 200_000, "number of tokens to print")
	kind := flag.String("kind", string(authz.KindKeyToken), "token kind: key_token (kgl_) or access_token (kga_), both sent as Bearer")
	flag.Parse()
	if flag.NArg() != 0 {
		log.Fatalf("tokens: unexpected arguments %q", flag.Args())
	}
	if err := run(*n, authz.Kind(*kind)); err != nil {
		log.Fatalf("tokens: %v", err)
	}
}

func run(n int, kind authz.Kind) error {
	if n < 1 || n > maxTokens {
		return fmt.Errorf("-n must be between 1 and %d, got %d", maxTokens, n)
	}
	if kind != authz.KindKeyToken && kind != authz.KindAccessToken {
		return fmt.Errorf("-kind must be %s or %s, got %q", authz.KindKeyToken, authz.KindAccessToken, kind)
	}
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	for range n {
		if _, err := w.WriteString(authz.NewToken(kind)); err != nil {
			return err
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	}
	return w.Flush()
}
