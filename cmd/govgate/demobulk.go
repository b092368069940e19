package main

import (
	"bufio"
	"fmt"

	"github.com/valyala/fasthttp"
)

// demoChangeRows is the size of the demo's exchanged dataset: some 120 MB of CSV, so that
// a gateway that buffered it would show in its memory.
const demoChangeRows = 600_000

// serveRegistrationChanges streams the registry's enterprise registration changes (企业登记
// 变更) as CSV, generated row by row as it is sent: the provider holds no more of it than
// the gateway does. Every column is one the catalog declares; the agreement releases
// some of them.
func serveRegistrationChanges(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/csv; charset=utf-8")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		w.WriteString("uscc,name,legal_representative,type,registered_capital,established_on,status,address,business_scope,registration_authority\r\n")
		for i := 0; i < demoChangeRows; i++ {
			_, err := fmt.Fprintf(w, "91110108MA%08d,北京数联科技有限公司第%d分公司,陈明,有限责任公司,\"%d万元, 人民币\",2019-03-%02d,存续(在营、开业、在册),\"北京市海淀区知春路%d号, %d层\",\"技术开发、技术咨询; 数据处理\",北京市海淀区市场监督管理局\r\n",
				i, i, 100+i%900, i%28+1, i%200+1, i%20+1)
			if err != nil {
				return
			}
		}
	})
}
