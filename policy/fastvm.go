package policy

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// fastVM runs a plan for one decision. Its control flow is that of OPA's Wasm compiler,
// from which the plan's meaning is defined: every block is a Wasm block, a statement
// that is undefined leaves the block it is in, BreakStmt{Index: n} leaves n+1 blocks, a
// scan's body is the body of a loop (leaving it is the next iteration) inside a block,
// and a `not` runs its block inside a block of its own.
//
// An error means the plan could not decide (a built-in failed, a complete rule gave two
// values, …): the caller then asks the full evaluation, which reports the policy's own
// error. fastVM never turns a failure into an answer.
type fastVM struct {
	fp   *fastPath
	bctx topdown.BuiltinContext
	memo []*ast.Term // per function: its (input, data) value once computed
	done []bool
	ret  *ast.Term // the value of the last ReturnLocalStmt, read at once by call
	// stack holds the frames of the calls in progress; top is its first free slot.
	stack []*ast.Term
	top   int
	// args and out carry a built-in call; built-ins do not call back into the plan, so
	// one of each serves every call.
	args   []*ast.Term
	out    *ast.Term
	setOut func(*ast.Term) error
}

// errScanDone ends an iteration early.
var errScanDone = errors.New("stop")

// A block's outcome: fallthrough, a return, or a break of n more blocks.
const (
	brNone   = -1
	brReturn = -2
)

var errConflict = errors.New("conflicting values")

// eval runs the plan on input and data and returns the decision document.
func (fp *fastPath) eval(ctx context.Context, input, data *ast.Term) (v ast.Value, err error) {
	defer func() {
		// A fault in the fast path is never a decision: report it, and the caller asks
		// the full evaluation.
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("fast path fault: %v", r)
		}
	}()
	vm := &fastVM{
		fp:    fp,
		bctx:  topdown.BuiltinContext{Context: ctx, Cache: builtins.Cache{}},
		memo:  make([]*ast.Term, len(fp.funcs)),
		done:  make([]bool, len(fp.funcs)),
		stack: make([]*ast.Term, fp.stack),
	}
	vm.setOut = func(t *ast.Term) error { vm.out = t; return nil }
	frame := vm.stack[:fp.planLocals:fp.planLocals]
	vm.top = fp.planLocals
	frame[ir.Input], frame[ir.Data] = input, data
	var results []*ast.Term
	for _, b := range fp.plan.Blocks {
		r, err := vm.block(b, frame, &results)
		if err != nil {
			return nil, err
		}
		if r != brNone && r != 0 {
			break
		}
	}
	if len(results) != 1 {
		return nil, fmt.Errorf("fast path: %d results, want 1", len(results))
	}
	obj, ok := results[0].Value.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("fast path: result is %s", ast.ValueName(results[0].Value))
	}
	res := obj.Get(ast.InternedTerm("result"))
	if res == nil {
		return nil, errors.New("fast path: decision undefined")
	}
	return res.Value, nil
}

func (vm *fastVM) call(idx int, s *ir.CallStmt, caller []*ast.Term) (*ast.Term, error) {
	f := vm.fp.funcs[idx]
	if f.memo && vm.done[idx] {
		return vm.memo[idx], nil
	}
	if vm.top+f.locals > len(vm.stack) {
		return nil, fmt.Errorf("fast path: call depth beyond the plan's functions at %s", s.Func)
	}
	frame := vm.stack[vm.top : vm.top+f.locals : vm.top+f.locals]
	clear(frame)
	for i, p := range f.fn.Params {
		frame[p] = vm.operand(s.Args[i], caller)
	}
	vm.top += f.locals
	out, err := vm.run(f, frame)
	vm.top -= f.locals
	if err != nil {
		return nil, err
	}
	if f.memo {
		vm.memo[idx], vm.done[idx] = out, true
	}
	return out, nil
}

func (vm *fastVM) run(f *fastFunc, frame []*ast.Term) (*ast.Term, error) {
	var out *ast.Term
	for _, b := range f.fn.Blocks {
		r, err := vm.block(b, frame, nil)
		if err != nil {
			return nil, err
		}
		if r == brReturn {
			out = vm.ret
			break
		}
		if r != brNone && r != 0 {
			break
		}
	}
	return out, nil
}

// block runs the statements of one block and says how it ended.
func (vm *fastVM) block(b *ir.Block, frame []*ast.Term, results *[]*ast.Term) (int, error) {
	for _, s := range b.Stmts {
		r, err := vm.stmt(s, frame, results)
		if err != nil || r != brNone {
			return r, err
		}
	}
	return brNone, nil
}

// outer passes a break that left an inner construct on to the enclosing block, n levels
// having been used up inside.
func outer(r, n int) (int, bool) {
	switch {
	case r == brReturn:
		return r, true
	case r >= n:
		return r - n, true
	}
	return brNone, false
}

func (vm *fastVM) stmt(s ir.Stmt, frame []*ast.Term, results *[]*ast.Term) (int, error) {
	get := func(op ir.Operand) *ast.Term { return vm.operand(op, frame) }
	undefinedIf := func(c bool) (int, error) {
		if c {
			return 0, nil
		}
		return brNone, nil
	}
	switch s := s.(type) {
	case *ir.BlockStmt:
		for _, b := range s.Blocks {
			r, err := vm.block(b, frame, results)
			if err != nil {
				return 0, err
			}
			if r, up := outer(r, 1); up {
				return r, nil
			}
		}
		return brNone, nil
	case *ir.ScanStmt:
		return vm.scan(s, frame, results)
	case *ir.NotStmt:
		r, err := vm.block(s.Block, frame, results)
		if err != nil {
			return 0, err
		}
		if r == brNone {
			return 0, nil // the negated body held: the `not` is undefined
		}
		if r, up := outer(r, 1); up {
			return r, nil
		}
		return brNone, nil
	case *ir.BreakStmt:
		return int(s.Index), nil
	case *ir.ReturnLocalStmt:
		vm.ret = frame[s.Source]
		return brReturn, nil
	case *ir.ResultSetAddStmt:
		*results = append(*results, frame[s.Value])
	case *boundCall:
		out, err := vm.callStmt(s.CallStmt, s.to, frame)
		if err != nil {
			return 0, err
		}
		frame[s.Result] = out
		return undefinedIf(out == nil)
	case *ir.CallStmt:
		out, err := vm.callStmt(s, vm.fp.calls[s], frame)
		if err != nil {
			return 0, err
		}
		frame[s.Result] = out
		return undefinedIf(out == nil)
	case *ir.AssignVarStmt:
		frame[s.Target] = get(s.Source)
	case *ir.AssignVarOnceStmt:
		v := get(s.Source)
		if cur := frame[s.Target]; cur != nil && cur.Value.Compare(v.Value) != 0 {
			return 0, fmt.Errorf("%s: complete rule gives two values: %w", location(s.Location), errConflict)
		}
		frame[s.Target] = v
	case *ir.AssignIntStmt:
		frame[s.Target] = ast.NewTerm(ast.Number(strconv.FormatInt(s.Value, 10)))
	case *ir.DotStmt:
		out := dot(get(s.Source), get(s.Key))
		frame[s.Target] = out
		return undefinedIf(out == nil)
	case *ir.LenStmt:
		n, ok := length(get(s.Source))
		if !ok {
			return 0, fmt.Errorf("%s: length of %s", location(s.Location), ast.ValueName(get(s.Source).Value))
		}
		frame[s.Target] = ast.IntNumberTerm(n)
	case *ir.EqualStmt:
		return undefinedIf(get(s.A).Value.Compare(get(s.B).Value) != 0)
	case *ir.NotEqualStmt:
		return undefinedIf(get(s.A).Value.Compare(get(s.B).Value) == 0)
	case *ir.IsArrayStmt:
		_, ok := get(s.Source).Value.(*ast.Array)
		return undefinedIf(!ok)
	case *ir.IsObjectStmt:
		_, ok := get(s.Source).Value.(ast.Object)
		return undefinedIf(!ok)
	case *ir.IsSetStmt:
		_, ok := get(s.Source).Value.(ast.Set)
		return undefinedIf(!ok)
	case *ir.IsDefinedStmt:
		return undefinedIf(frame[s.Source] == nil)
	case *ir.IsUndefinedStmt:
		return undefinedIf(frame[s.Source] != nil)
	case *ir.ResetLocalStmt:
		frame[s.Target] = nil
	case *ir.NopStmt:
	default:
		return vm.build(s, frame)
	}
	return brNone, nil
}

// build runs the statements that make and fill values.
func (vm *fastVM) build(s ir.Stmt, frame []*ast.Term) (int, error) {
	get := func(op ir.Operand) *ast.Term { return vm.operand(op, frame) }
	switch s := s.(type) {
	case *ir.MakeNullStmt:
		frame[s.Target] = ast.NullTerm()
	case *ir.MakeNumberIntStmt:
		frame[s.Target] = ast.IntNumberTerm(int(s.Value))
	case *ir.MakeNumberRefStmt:
		frame[s.Target] = ast.NewTerm(ast.Number(vm.fp.strings[s.Index].Value.(ast.String)))
	case *ir.MakeArrayStmt:
		frame[s.Target] = ast.NewTerm(ast.NewArrayWithCapacity(int(s.Capacity)))
	case *ir.MakeObjectStmt:
		frame[s.Target] = ast.NewTerm(ast.NewObject())
	case *ir.MakeSetStmt:
		frame[s.Target] = ast.NewTerm(ast.NewSet())
	case *ir.ArrayAppendStmt:
		arr := frame[s.Array].Value.(*ast.Array)
		// In place, as the plan means it: every local holding the array sees the element.
		*arr = *arr.Append(get(s.Value))
	case *ir.ObjectInsertStmt:
		frame[s.Object].Value.(ast.Object).Insert(get(s.Key), get(s.Value))
	case *ir.ObjectInsertOnceStmt:
		obj := frame[s.Object].Value.(ast.Object)
		k, v := get(s.Key), get(s.Value)
		if cur := obj.Get(k); cur != nil && cur.Value.Compare(v.Value) != 0 {
			return 0, fmt.Errorf("%s: object key %v given two values: %w", location(s.Location), k, errConflict)
		}
		obj.Insert(k, v)
	case *ir.ObjectMergeStmt:
		a, ok1 := frame[s.A].Value.(ast.Object)
		b, ok2 := frame[s.B].Value.(ast.Object)
		if !ok1 || !ok2 {
			return 0, fmt.Errorf("%s: merge of non-objects: %w", location(s.Location), errConflict)
		}
		m, ok := a.Merge(b)
		if !ok {
			return 0, fmt.Errorf("%s: merge: %w", location(s.Location), errConflict)
		}
		frame[s.Target] = ast.NewTerm(m)
	case *ir.SetAddStmt:
		frame[s.Set].Value.(ast.Set).Add(get(s.Value))
	default:
		return 0, fmt.Errorf("fast path: statement %T: %w", s, errNoFastPath)
	}
	return brNone, nil
}

func (vm *fastVM) operand(op ir.Operand, frame []*ast.Term) *ast.Term {
	switch v := op.Value.(type) {
	case ir.Local:
		return frame[v]
	case *ir.Local:
		return frame[*v]
	case ir.Bool:
		return ast.InternedTerm(bool(v))
	case *ir.Bool:
		return ast.InternedTerm(bool(*v))
	case ir.StringIndex:
		return vm.fp.strings[v]
	case *ir.StringIndex:
		return vm.fp.strings[*v]
	}
	panic(fmt.Sprintf("operand %T", op.Value))
}

// scan runs the body for each element of a collection; anything else has none.
func (vm *fastVM) scan(s *ir.ScanStmt, frame []*ast.Term, results *[]*ast.Term) (int, error) {
	var r int
	var err error
	each := func(k, v *ast.Term) error {
		frame[s.Key], frame[s.Value] = k, v
		r, err = vm.block(s.Block, frame, results)
		if err != nil || (r != brNone && r != 0) {
			return errScanDone
		}
		return nil
	}
	switch c := frame[s.Source].Value.(type) {
	case *ast.Array:
		for i := range c.Len() {
			if each(ast.InternedTerm(i), c.Elem(i)) != nil {
				break
			}
		}
	case ast.Object:
		_ = c.Iter(each)
	case ast.Set:
		_ = c.Iter(func(e *ast.Term) error { return each(e, e) })
	default:
		return brNone, nil
	}
	if err != nil {
		return 0, err
	}
	if r, up := outer(r, 2); up {
		return r, nil
	}
	return brNone, nil
}

func (vm *fastVM) callStmt(s *ir.CallStmt, c fastCall, frame []*ast.Term) (*ast.Term, error) {
	if c.builtin == nil {
		return vm.call(c.fn, s, frame)
	}
	vm.args = vm.args[:0]
	for _, a := range s.Args {
		vm.args = append(vm.args, vm.operand(a, frame))
	}
	if c.relation {
		return vm.callRelation(s, c)
	}
	vm.out = nil
	err := c.builtin(vm.bctx, vm.args, vm.setOut)
	out := vm.out
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", location(s.Location), s.Func, err)
	}
	return out, nil
}

// callRelation calls a built-in of many outputs and gives them all, as one array: the
// plan scans it (or counts it, where no output is captured). Keeping only the last
// output, as for any other built-in, lost all but one of walk's.
func (vm *fastVM) callRelation(s *ir.CallStmt, c fastCall) (*ast.Term, error) {
	var outs []*ast.Term
	err := c.builtin(vm.bctx, vm.args, func(t *ast.Term) error { outs = append(outs, t); return nil })
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", location(s.Location), s.Func, err)
	}
	return ast.ArrayTerm(outs...), nil
}

func dot(src, key *ast.Term) *ast.Term {
	switch c := src.Value.(type) {
	case ast.Object:
		return c.Get(key)
	case *ast.Array:
		n, ok := key.Value.(ast.Number)
		if !ok {
			return nil
		}
		i, ok := n.Int()
		if !ok || i < 0 || i >= c.Len() {
			return nil
		}
		return c.Elem(i)
	case ast.Set:
		if c.Contains(key) {
			return key
		}
	}
	return nil
}

func length(t *ast.Term) (int, bool) {
	switch c := t.Value.(type) {
	case *ast.Array:
		return c.Len(), true
	case ast.Object:
		return c.Len(), true
	case ast.Set:
		return c.Len(), true
	case ast.String:
		return len([]rune(string(c))), true
	}
	return 0, false
}

func location(l ir.Location) string { return fmt.Sprintf("row %d", l.Row) }
