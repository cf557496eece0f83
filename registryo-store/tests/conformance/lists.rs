//! Lists in pages: users and groups by name, rules by id, a page at a time after a key, and
//! a case-insensitive filter in which `%`, `_` and `\` are plain characters.

use crate::prelude::*;
use registryo_core::storage::ListQuery;

fn query(filter: &str, after: Option<String>, limit: u32) -> ListQuery {
    ListQuery {
        filter: filter.to_owned(),
        after,
        limit,
    }
}

pub(crate) async fn lists_come_in_pages(ctx: &Ctx) {
    let store = &ctx.store;
    let people = [
        ("ada", "Ada", "Lovelace", "ada@example.com"),
        ("bob", "Bob", "Stone", "bob@corp.test"),
        ("carol", "Carol", "Lovelace", "c@example.com"),
        ("dave_ops", "", "", "dave@example.com"),
        ("eve", "Eve", "100%", "eve@corp.test"),
        ("frank", "", "", ""),
        ("grace", "Grace", "Hopper", "grace@corp.test"),
    ];
    for (u, first, last, email) in people {
        let mut new = NewUser::new(name(u), UserKind::Human).names(first, last);
        if !email.is_empty() {
            new = new.email(email);
        }
        store.create_user(&new, &|_| Vec::new()).await.unwrap();
    }
    // Every user once, in order, three at a time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users_page(&query("", after, 3)).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|u| u.username.clone()));
        match page.next {
            Some(n) => {
                assert_eq!(Some(&n), seen.last(), "the cursor is the last key shown");
                after = Some(n);
            }
            None => break,
        }
    }
    let all: Vec<String> = people.iter().map(|p| p.0.to_owned()).collect();
    assert_eq!(seen, all);
    // An exact fit has no next page.
    let page = store.list_users_page(&query("", None, 7)).await.unwrap();
    assert_eq!((page.items.len(), page.next), (7, None));
    // The filter: username, names, e-mail; any case.
    let names = |page: registryo_core::storage::Page<registryo_store::User>| -> Vec<String> {
        page.items.into_iter().map(|u| u.username).collect()
    };
    let find = |f: &'static str| async move {
        names(store.list_users_page(&query(f, None, 0)).await.unwrap())
    };
    assert_eq!(find("LOVELACE").await, ["ada", "carol"]);
    assert_eq!(find("corp.test").await, ["bob", "eve", "grace"]);
    assert_eq!(find("ar").await, ["carol"]);
    assert_eq!(find("RA").await, ["frank", "grace"]);
    // `_` and `%` are not wildcards.
    assert_eq!(find("_").await, ["dave_ops"]);
    assert_eq!(find("%").await, ["eve"]);
    assert!(find("\\").await.is_empty());
    assert!(find("nobody").await.is_empty());
    // Filtered pages chain too.
    let first = store
        .list_users_page(&query("example", None, 2))
        .await
        .unwrap();
    assert_eq!(names(first.clone()), ["ada", "carol"]);
    let second = store
        .list_users_page(&query("example", first.next, 2))
        .await
        .unwrap();
    assert_eq!(
        (names(second.clone()), second.next),
        (vec!["dave_ops".to_owned()], None)
    );

    // Groups by name.
    for g in ["ops", "devs", "qa", "dev-tools"] {
        store
            .create_group(&group(g), &|_| Vec::new())
            .await
            .unwrap();
    }
    assert_eq!(store.count_groups().await.unwrap(), 4);
    let page = store.list_groups_page(&query("", None, 2)).await.unwrap();
    let got: Vec<String> = page.items.iter().map(|g| g.name.to_string()).collect();
    assert_eq!(got, ["dev-tools", "devs"]);
    let page = store
        .list_groups_page(&query("", page.next, 2))
        .await
        .unwrap();
    let got: Vec<String> = page.items.iter().map(|g| g.name.to_string()).collect();
    assert_eq!(
        (got, page.next),
        (vec!["ops".to_owned(), "qa".to_owned()], None)
    );
    let page = store
        .list_groups_page(&query("DEV", None, 0))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);

    // Rules by id; the filter looks in the subject and the pattern.
    let mut ids = Vec::new();
    for (subject, pattern) in [
        ("user:ada", "ada/**"),
        ("group:devs", "team/*"),
        ("authenticated", "public/**"),
        ("user:bob", "team/tools"),
    ] {
        let r = store
            .add_acl_rule(
                &NewAclRule {
                    subject: subject.into(),
                    pattern: pattern.into(),
                    actions: "pull".into(),
                    created_by: None,
                },
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        ids.push(r.id);
    }
    let page = store
        .list_acl_rules_page(&query("", None, 3))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids[..3]
    );
    assert_eq!(page.next, Some(ids[2].to_string()));
    let page = store
        .list_acl_rules_page(&query("", page.next, 3))
        .await
        .unwrap();
    assert_eq!((page.items[0].id, page.next), (ids[3], None));
    let page = store
        .list_acl_rules_page(&query("TEAM", None, 0))
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[1], ids[3]]
    );
    let page = store
        .list_acl_rules_page(&query("devs", None, 0))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    // A rule page starts after a rule id: anything else is refused, not a 500.
    assert!(matches!(
        store
            .list_acl_rules_page(&query("", Some("x; DROP".into()), 0))
            .await,
        Err(StoreError::Invalid(_))
    ));
    // The page size is bounded.
    assert_eq!(query("", None, 0).page_size(), ListQuery::DEFAULT_LIMIT);
    assert_eq!(query("", None, 1_000_000).page_size(), ListQuery::MAX_LIMIT);
}
