//! The admin lists in pages, with a search: the UI (`?filter=&after=`, a "next page" link),
//! the API (`?filter=&after=&limit=`, a `next` cursor) and bad parameters as clear 400s.

use super::*;

/// `n` more accounts `u000`…, every third with an address at `team.test`; `n` rules.
async fn fill(t: &T, n: usize) {
    for i in 0..n {
        let email = if i % 3 == 0 {
            format!("u{i:03}@team.test")
        } else {
            format!("u{i:03}@other.test")
        };
        t.store
            .create_user(
                &NewUser::new(format!("u{i:03}").parse().unwrap(), UserKind::Human).email(email),
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        t.store
            .add_acl_rule(
                &registryo_store::NewAclRule {
                    subject: format!("user:u{i:03}"),
                    pattern: format!("p{i}/**"),
                    actions: "pull".into(),
                    created_by: None,
                },
                &|_| Vec::new(),
            )
            .await
            .unwrap();
    }
}

/// The `href` of the "Next page" link, unescaped, if there is one.
fn next_link(html: &str) -> Option<String> {
    let end = html.find("\" rel=\"next\">Next page")?;
    let start = html[..end].rfind("href=\"")? + 6;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&#x3D;", "="),
    )
}

#[tokio::test]
async fn admin_pages_come_in_pages_with_a_search() {
    let t = setup().await;
    fill(&t, 120).await;
    let admin = t.signin("admin", ADMIN_PW).await;
    // 122 accounts: three pages of at most 50, each account once.
    let mut seen = Vec::new();
    let mut path = "/admin/users".to_owned();
    for page in 0.. {
        let r = t.get(&path, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let rows = r.body.matches("<tr><td><a href=\"/admin/users/").count();
        assert!(rows <= 50, "page {page}: {rows} rows");
        for i in 0..120 {
            if r.body.contains(&format!(">u{i:03}</a>")) {
                seen.push(i);
            }
        }
        if page > 0 {
            assert!(
                r.body.contains("First page"),
                "page {page} links to the first"
            );
        }
        match next_link(&r.body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..120).collect::<Vec<_>>(),
        "every account once, in order"
    );

    // The search: only the matches, the text kept in the box.
    let r = t.get("/admin/users?filter=TEAM.test", Some(&admin)).await;
    assert_eq!(
        r.body.matches("<tr><td><a href=\"/admin/users/").count(),
        40
    );
    assert!(r.body.contains("value=\"TEAM.test\""));
    assert!(next_link(&r.body).is_none());
    let r = t.get("/admin/users?filter=%3Cb%3E", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("No account matches") && !r.body.contains("<b>"));

    // Rules and groups page the same way.
    let r = t.get("/admin/rules", Some(&admin)).await;
    assert_eq!(r.body.matches("/delete\">").count(), 50);
    let next = next_link(&r.body).expect("a second page of rules");
    let r = t.get(&next, Some(&admin)).await;
    assert_eq!(r.body.matches("/delete\">").count(), 50);
    let r = t.get("/admin/rules?filter=p11", Some(&admin)).await;
    // p11, p110 … p119
    assert_eq!(r.body.matches("/delete\">").count(), 11);
    let r = t.get("/admin/rules?after=not-a-number", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t.get("/admin/groups?filter=none", Some(&admin)).await;
    assert!(r.body.contains("No group matches"));
}

#[tokio::test]
async fn the_api_lists_in_pages_with_a_next_cursor() {
    let t = setup().await;
    fill(&t, 120).await;
    let mut names = Vec::new();
    let mut path = "/users?limit=25".to_owned();
    loop {
        let r = t.admin_api(Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        let j = r.json();
        let users = j["users"].as_array().unwrap();
        assert!(users.len() <= 25);
        names.extend(
            users
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned()),
        );
        match j["next"].as_str() {
            Some(n) => path = format!("/users?limit=25&after={}", urlenc(n)),
            None => break,
        }
    }
    assert_eq!(names.len(), 122);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // The default page is 50; the filter narrows it.
    let j = t.admin_api(Method::GET, "/users", None).await.json();
    assert_eq!(j["users"].as_array().unwrap().len(), 50);
    let j = t
        .admin_api(Method::GET, "/users?filter=team.test&limit=1000", None)
        .await
        .json();
    assert_eq!(j["users"].as_array().unwrap().len(), 40);
    assert!(j["next"].is_null());
    let j = t
        .admin_api(Method::GET, "/rules?limit=100", None)
        .await
        .json();
    assert_eq!(j["rules"].as_array().unwrap().len(), 100);
    let j = t
        .admin_api(
            Method::GET,
            &format!("/rules?after={}", j["next"].as_str().unwrap()),
            None,
        )
        .await
        .json();
    assert_eq!(j["rules"].as_array().unwrap().len(), 20);
    // Bad parameters are 400s that name them.
    for (path, field) in [
        ("/users?limit=0", "limit"),
        ("/users?limit=1001", "limit"),
        ("/groups?limit=ten", "limit"),
        ("/rules?after=ten", ""),
        ("/users?sort=name", ""),
    ] {
        let r = t.admin_api(Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert!(r.body.contains(field), "{path}: {}", r.body);
    }
    let long = "x".repeat(201);
    let r = t
        .admin_api(Method::GET, &format!("/users?filter={long}"), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
