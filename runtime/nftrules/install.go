package nftrules

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Install creates the table in the network namespace netns (a file
// descriptor; 0 means the current one), replacing any table of the same
// name, in one nf_tables transaction: the new rules take over from the
// old ones at once, and a failure leaves the old table as it was. The
// helpers the objects name must be registered (ENOENT otherwise).
func Install(t Table, netns int) error {
	if err := t.check(); err != nil {
		return err
	}
	c, err := dial(netns)
	if err != nil {
		return err
	}
	tab := &nftables.Table{Name: t.Name, Family: nftables.TableFamilyINet}
	c.AddTable(tab) // so that the delete below finds one
	c.DelTable(tab)
	c.AddTable(tab)
	for _, o := range t.Objects {
		c.AddObj(&nftables.NamedObj{Table: tab, Name: o.Name, Type: nftables.ObjTypeCtHelper,
			Obj: &expr.CtHelper{Name: o.Helper, L3Proto: uint16(o.Family), L4Proto: o.L4}})
	}
	accept := nftables.ChainPolicyAccept
	for _, ch := range t.Chains {
		hook := nftables.ChainHookPrerouting
		if ch.Name == "output" {
			hook = nftables.ChainHookOutput
		}
		chain := c.AddChain(&nftables.Chain{Name: ch.Name, Table: tab, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: &accept})
		for _, r := range ch.Rules {
			exprs, err := ruleExprs(c, tab, r)
			if err != nil {
				return fmt.Errorf("nftables: table inet %s: %w", t.Name, err)
			}
			c.AddRule(&nftables.Rule{Table: tab, Chain: chain, Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return explain(fmt.Errorf("nftables: install table inet %s: %w", t.Name, err))
	}
	return nil
}

// ruleExprs returns the expressions of `meta nfproto F L4 dport PORTS ct
// helper set OBJ` as nft compiles them; several ports become an anonymous
// constant set.
func ruleExprs(c *nftables.Conn, tab *nftables.Table, r Rule) ([]expr.Any, error) {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(r.Family)}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.L4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
	if len(r.Ports) == 1 {
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Ports[0])})
	} else {
		set := &nftables.Set{Table: tab, Anonymous: true, Constant: true, KeyType: nftables.TypeInetService}
		elems := make([]nftables.SetElement, len(r.Ports))
		for i, p := range r.Ports {
			elems[i] = nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(p)}
		}
		if err := c.AddSet(set, elems); err != nil {
			return nil, fmt.Errorf("port set of %s: %w", r.Object, err)
		}
		e = append(e, &expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID})
	}
	return append(e, &expr.Objref{Type: int(nftables.ObjTypeCtHelper), Name: r.Object}), nil
}

// Remove deletes the table named name (family inet) from the network
// namespace netns; it reports whether there was one.
func Remove(name string, netns int) (bool, error) {
	c, err := dial(netns)
	if err != nil {
		return false, err
	}
	c.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	err = c.Flush()
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, explain(fmt.Errorf("nftables: delete table inet %s: %w", name, err))
	}
	return true, nil
}

// Exists reports whether the namespace has the table (family inet).
func Exists(name string, netns int) (bool, error) {
	c, err := dial(netns)
	if err != nil {
		return false, err
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, explain(fmt.Errorf("nftables: list tables: %w", err))
	}
	for _, t := range ts {
		if t.Name == name {
			return true, nil
		}
	}
	return false, nil
}

func dial(netns int) (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return c, nil
}

// explain adds what the kernel's errors mean here.
func explain(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w (a ct helper object names a helper the kernel does not have: is it registered?)", err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w (changing nftables needs CAP_NET_ADMIN)", err)
	}
	return err
}
