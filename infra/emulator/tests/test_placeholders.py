"""placeholders.apply: unmodelled resources become SSM parameters, every reference to them a string."""
from infra.emulator import placeholders


def test_references_to_a_placeholder_become_strings_and_others_stay():
    template = {
        "Resources": {
            "Cdn": {"Type": "AWS::CloudFront::Distribution", "Condition": "C", "DependsOn": "Bucket",
                    "Properties": {"X": 1}},
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "A": {"Ref": "Cdn"},
                "B": {"Fn::GetAtt": ["Cdn", "DomainName"]},
                "C": {"Fn::GetAtt": "Cdn.Id"},
                "D": {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Cdn} ${Bucket.Arn} ${!Cdn}"},
                "E": {"Fn::Sub": ["${Cdn}/${Local}/${Cdn.DomainName}", {"Local": {"Ref": "Cdn"}, "Cdn": "own"}]},
                "F": {"Ref": "Bucket"},
                "G": {"Fn::If": ["C", {"Ref": "Cdn"}, {"Ref": "AWS::NoValue"}]},
            }},
        },
        "Outputs": {"Domain": {"Value": {"Fn::GetAtt": ["Cdn", "DomainName"]}}},
    }
    out, replaced = placeholders.apply(template, {"AWS::CloudFront::Distribution"})
    assert replaced == {"Cdn": "AWS::CloudFront::Distribution"}
    cdn = out["Resources"]["Cdn"]
    assert cdn["Type"] == "AWS::SSM::Parameter"
    assert cdn["Condition"] == "C" and cdn["DependsOn"] == "Bucket"
    assert cdn["Metadata"]["EmulatorPlaceholderFor"] == "AWS::CloudFront::Distribution"
    props = out["Resources"]["Fn"]["Properties"]
    assert props["A"] == "placeholder:Cdn"
    assert props["B"] == "placeholder:Cdn.DomainName"
    assert props["C"] == "placeholder:Cdn.Id"
    assert props["D"] == {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/placeholder:Cdn"
                                     " ${Bucket.Arn} ${!Cdn}"}
    # A variable of the Sub's own map shadows the resource.
    assert props["E"] == {"Fn::Sub": ["${Cdn}/${Local}/placeholder:Cdn.DomainName", {"Local": "placeholder:Cdn", "Cdn": "own"}]}
    assert props["F"] == {"Ref": "Bucket"}
    assert props["G"] == {"Fn::If": ["C", "placeholder:Cdn", {"Ref": "AWS::NoValue"}]}
    assert out["Outputs"]["Domain"]["Value"] == "placeholder:Cdn.DomainName"
    assert template["Resources"]["Cdn"]["Type"] == "AWS::CloudFront::Distribution", "the input is not changed"


def test_the_default_list_is_unmodelled_json():
    template = {"Resources": {"Db": {"Type": "AWS::Glue::Database"}, "Q": {"Type": "AWS::SQS::Queue"}}}
    _, replaced = placeholders.apply(template)
    assert replaced == {"Db": "AWS::Glue::Database"}
