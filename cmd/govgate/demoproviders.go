package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/govgate/govgate/wire"

	"github.com/valyala/fasthttp"
)

// demoProviders are the two sample providers behind the demo gateway: a population
// registry (基础信息, shared with every department) and an enterprise registry (业务信息,
// shared under agreements). Their records are made up but shaped like the real ones.
type demoProviders struct {
	population net.Listener
	enterprise net.Listener
	servers    []*fasthttp.Server
	published  *publishedList // the regulator's published list of legal entities
}

type person struct {
	Name        string `json:"name"`
	IDNumber    string `json:"id_number"`
	Gender      string `json:"gender"`
	BirthDate   string `json:"birth_date"`
	Ethnicity   string `json:"ethnicity"`
	Address     string `json:"address"`
	Household   string `json:"household_registration"`
	LastUpdated string `json:"last_updated"`
}

type company struct {
	USCC                string `json:"uscc"`
	Name                string `json:"name"`
	LegalRepresentative string `json:"legal_representative"`
	Type                string `json:"type"`
	RegisteredCapital   string `json:"registered_capital"`
	EstablishedOn       string `json:"established_on"`
	Status              string `json:"status"`
	Address             string `json:"address"`
	BusinessScope       string `json:"business_scope"`
	RegistrationAuth    string `json:"registration_authority"`
}

// protectedPersonID is the demo record its registry labels secret.
const protectedPersonID = "110108196505050011"

func demoPersons() []person {
	return []person{
		{"张伟", "110101199003077777", "男", "1990-03-07", "汉族", "北京市东城区和平里街道青年湖社区12号楼3单元502", "北京市东城区", "2026-10-12"},
		{"李娜", "110105198811230026", "女", "1988-11-23", "汉族", "北京市朝阳区望京街道花家地北里6号院", "北京市朝阳区", "2026-09-30"},
		{"王芳", "110108199512184524", "女", "1995-12-18", "满族", "北京市海淀区中关村街道科学院南路2号", "北京市海淀区", "2026-11-02"},
		{"阿依古丽·买买提", "650102199207011225", "女", "1992-07-01", "维吾尔族", "新疆维吾尔自治区乌鲁木齐市天山区解放南路88号", "乌鲁木齐市天山区", "2026-08-21"},
		{"赵建国", protectedPersonID, "男", "1965-05-05", "汉族", "(protected)", "北京市海淀区", "2026-11-20"},
	}
}

func demoCompanies() []company {
	return []company{
		{"91110108MA01A2B3C4", "北京数联科技有限公司", "陈明", "有限责任公司(自然人投资或控股)", "1000万元人民币", "2018-05-16", "存续(在营、开业、在册)", "北京市海淀区知春路56号8层801", "技术开发、技术咨询、技术服务；数据处理", "北京市海淀区市场监督管理局"},
		{"91110105MA00XYZ12K", "北京和泰建设工程有限公司", "刘强", "有限责任公司(法人独资)", "5000万元人民币", "2015-09-01", "存续(在营、开业、在册)", "北京市朝阳区建国路88号", "施工总承包；专业承包；劳务分包", "北京市朝阳区市场监督管理局"},
		{"91650100MA78ABCD9P", "乌鲁木齐丝路物流有限公司", "马建国", "有限责任公司(自然人独资)", "200万元人民币", "2020-02-11", "注销", "新疆乌鲁木齐市新市区北京南路358号", "普通货运；仓储服务", "乌鲁木齐市市场监督管理局"},
	}
}

func startDemoProviders() (*demoProviders, error) {
	p := &demoProviders{}
	var err error
	if p.population, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("population registry: %w", err)
	}
	if p.enterprise, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		p.population.Close()
		return nil, fmt.Errorf("enterprise registry: %w", err)
	}
	persons, companies := demoPersons(), demoCompanies()
	p.published = demoPublishedList()
	p.serve(p.population, func(ctx *fasthttp.RequestCtx) {
		// The registry labels the record of a protected person secret (秘密): the gateway
		// must not let it leave the internal network, whatever the policy allowed.
		if string(ctx.QueryArgs().Peek("id")) == protectedPersonID {
			ctx.Response.Header.Set(wire.HeaderClassification, "secret")
		}
		lookup(ctx, "/population/v1/persons", "id", persons, func(x person) string { return x.IDNumber })
	})
	p.serve(p.enterprise, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/enterprise/bulk/changes.csv":
			serveRegistrationChanges(ctx)
			return
		case demoPublishedPath:
			p.published.serve(ctx)
			return
		}
		lookup(ctx, "/enterprise/v1/companies", "uscc", companies, func(x company) string { return x.USCC })
	})
	return p, nil
}

func (p *demoProviders) serve(ln net.Listener, h fasthttp.RequestHandler) {
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/healthz" {
			ctx.SetBodyString("ok")
			return
		}
		h(ctx)
	}, Name: "demo-provider"}
	p.servers = append(p.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			fmt.Println("demo provider stopped:", err)
		}
	}()
}

func (p *demoProviders) close() {
	for _, s := range p.servers {
		s.Shutdown()
	}
}

// lookup serves a collection: the record whose key matches the query parameter as a JSON
// object, or every record as a JSON array — the shapes the gateway's field filter cuts.
func lookup[T any](ctx *fasthttp.RequestCtx, path, param string, records []T, key func(T) string) {
	ctx.SetContentType("application/json; charset=utf-8")
	if string(ctx.Path()) != path {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetBodyString(`{}`)
		return
	}
	want := string(ctx.QueryArgs().Peek(param))
	if want == "" {
		body, _ := json.Marshal(records)
		ctx.SetBody(body)
		return
	}
	for _, r := range records {
		if key(r) == want {
			body, _ := json.Marshal(r)
			ctx.SetBody(body)
			return
		}
	}
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.SetBodyString(`{}`)
}
