package views

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"

	"github.com/a-h/templ"
)

// csrfHole stands for the CSRF token in a prerendered component. It is random, so no content
// can contain it, and made of letters, digits and a hyphen, so that like a token it reads the
// same escaped or not, wherever it stands.
var csrfHole = "csrf-" + rand.Text()

// Prerender renders c once, for any request: the component it returns writes the same HTML,
// with the CSRF token of the request rendering it wherever c renders one. c must depend on
// nothing else of the request.
func Prerender(ctx context.Context, c templ.Component) (templ.Component, error) {
	var buf bytes.Buffer
	if err := c.Render(WithCSRF(ctx, csrfHole), &buf); err != nil {
		return nil, err
	}
	parts := bytes.Split(buf.Bytes(), []byte(csrfHole))
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		token := csrfToken(ctx)
		for i, p := range parts {
			if i > 0 {
				if _, err := io.WriteString(w, token); err != nil {
					return err
				}
			}
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
		return nil
	}), nil
}
