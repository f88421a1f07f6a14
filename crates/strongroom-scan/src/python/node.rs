//! A node's kind and named fields without tree-sitter's name lookups: `Node::kind` measures a
//! C string and checks its UTF-8 on every call, `child_by_field_name` compares the name with
//! each of the grammar's field names; the analysis asks both for nearly every node (a tenth of
//! a scan's time on pip's wheel).

use std::num::NonZeroU16;
use std::sync::LazyLock;

use tree_sitter::{Language, Node, TreeCursor};

/// The named fields the analysis reads (tree-sitter-python's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Alias,
    Arguments,
    Attribute,
    Body,
    Function,
    Key,
    Left,
    ModuleName,
    Name,
    Object,
    Operator,
    Parameters,
    Right,
    Subscript,
    Value,
}

impl Field {
    const ALL: [Field; 15] = [
        Field::Alias,
        Field::Arguments,
        Field::Attribute,
        Field::Body,
        Field::Function,
        Field::Key,
        Field::Left,
        Field::ModuleName,
        Field::Name,
        Field::Object,
        Field::Operator,
        Field::Parameters,
        Field::Right,
        Field::Subscript,
        Field::Value,
    ];

    /// The grammar's name for the field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Alias => "alias",
            Field::Arguments => "arguments",
            Field::Attribute => "attribute",
            Field::Body => "body",
            Field::Function => "function",
            Field::Key => "key",
            Field::Left => "left",
            Field::ModuleName => "module_name",
            Field::Name => "name",
            Field::Object => "object",
            Field::Operator => "operator",
            Field::Parameters => "parameters",
            Field::Right => "right",
            Field::Subscript => "subscript",
            Field::Value => "value",
        }
    }
}

fn language() -> Language {
    tree_sitter_python::LANGUAGE.into()
}

/// Each kind id's name (ids past the grammar's symbols, such as `ERROR`'s, are asked of
/// tree-sitter).
static KINDS: LazyLock<Box<[Box<str>]>> = LazyLock::new(|| {
    let lang = language();
    let mut kinds = Vec::with_capacity(lang.node_kind_count());
    for id in 0..lang.node_kind_count() {
        let name = u16::try_from(id)
            .ok()
            .and_then(|id| lang.node_kind_for_id(id))
            .unwrap_or("");
        kinds.push(Box::from(name));
    }
    kinds.into_boxed_slice()
});

/// Each [`Field`]'s id in the grammar, in [`Field::ALL`]'s order (`None` if the grammar had
/// no such name: a test checks that it has each).
static FIELD_IDS: LazyLock<[Option<NonZeroU16>; Field::ALL.len()]> = LazyLock::new(|| {
    let lang = language();
    Field::ALL.map(|f| lang.field_id_for_name(f.name()))
});

/// [`Node::kind`] and [`Node::child_by_field_name`], by id.
pub(crate) trait NodeExt<'t> {
    /// The node's kind, as [`Node::kind`] gives it.
    fn kind_name(&self) -> &'t str;
    /// The child in the named field, as [`Node::child_by_field_name`] gives it.
    fn field(&self, field: Field) -> Option<Node<'t>>;
    /// The children in the named field, as [`Node::children_by_field_name`] gives them.
    fn fields<'c>(
        &self,
        field: Field,
        cursor: &'c mut TreeCursor<'t>,
    ) -> impl Iterator<Item = Node<'t>> + 'c;
}

impl<'t> NodeExt<'t> for Node<'t> {
    #[inline]
    fn kind_name(&self) -> &'t str {
        match KINDS.get(usize::from(self.kind_id())) {
            Some(k) if !k.is_empty() => k.as_ref(),
            _ => self.kind(),
        }
    }

    #[inline]
    fn field(&self, field: Field) -> Option<Node<'t>> {
        FIELD_IDS[field as usize].and_then(|id| self.child_by_field_id(id.get()))
    }

    fn fields<'c>(
        &self,
        field: Field,
        cursor: &'c mut TreeCursor<'t>,
    ) -> impl Iterator<Item = Node<'t>> + 'c {
        FIELD_IDS[field as usize]
            .map(|id| self.children_by_field_id(id, cursor))
            .into_iter()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_the_analysis_reads_is_in_the_grammar() {
        for f in Field::ALL {
            assert!(FIELD_IDS[f as usize].is_some(), "{f:?}");
            assert_eq!(Field::ALL[f as usize], f);
        }
    }

    #[test]
    fn kinds_and_fields_by_id_are_tree_sitters_own() {
        let src = "import os, sys as s\nfrom a.b import (c as d, e)\n@dec(1)\nclass K(B):\n    def f(self, x=1, *a, **k):\n        y = x[0] + os.environ.get('HOME', {'k': v for v in a})\n        z = x[0, 1:2]\n        return (lambda q: q)(y) if y else None\n    def g(: broken ))\n";
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&language()).expect("grammar");
        let tree = parser.parse(src, None).expect("tree");
        let mut cursor = tree.walk();
        let (mut seen, mut errors, mut fields) = (0, 0, 0);
        loop {
            let n = cursor.node();
            assert_eq!(n.kind_name(), n.kind(), "{n:?}");
            errors += usize::from(n.is_error());
            for f in Field::ALL {
                assert_eq!(
                    n.field(f),
                    n.child_by_field_name(f.name()),
                    "{f:?} of {n:?}"
                );
                let (mut a, mut b) = (n.walk(), n.walk());
                let by_id: Vec<_> = n.fields(f, &mut a).collect();
                let by_name: Vec<_> = n.children_by_field_name(f.name(), &mut b).collect();
                assert_eq!(by_id, by_name, "{f:?} of {n:?}");
                fields += by_id.len();
            }
            seen += 1;
            if cursor.goto_first_child() || cursor.goto_next_sibling() {
                continue;
            }
            while cursor.goto_parent() && !cursor.goto_next_sibling() {}
            if cursor.node() == tree.root_node() {
                break;
            }
        }
        assert!(seen > 100, "{seen}");
        assert!(errors > 0, "the sample has an error node");
        assert!(fields > 30, "{fields}");
    }
}
