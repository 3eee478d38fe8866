// Package static embeds the stylesheet, htmx (a pinned copy, 2.0.8) and the small script that
// hands htmx the CSRF token.
package static

import "embed"

// FS holds css/ and js/.
//
//go:embed css js
var FS embed.FS
