package web
import ("testing";"net/http";"github.com/labstack/echo/v4")
func BenchmarkZZ(b *testing.B){
	h, cookies := benchApp(b, 100)
	h.(*echo.Echo).GET("/bench/baseline", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	b.Run("trivial", func(b *testing.B) { benchGet(b, h, cookies, "/bench/baseline", 200) })
	b.Run("list", func(b *testing.B) { benchGet(b, h, cookies, "/admin/scm", 200) })
	b.Run("search", func(b *testing.B) { benchGet(b, h, cookies, "/admin/scm?q=bb99", 200) })
}
